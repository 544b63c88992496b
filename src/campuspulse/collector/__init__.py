"""The collector: MQTT subscriber → validate → dedup → store; dead letters for what breaks the contract."""
