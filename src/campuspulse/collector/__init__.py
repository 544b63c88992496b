"""The collector: MQTT subscriber → validate → dedup → ledger; dead letters for what breaks the contract."""
