"""The edge agent: polls drivers, decides usage state, queues records on disk, publishes over MQTT."""
