"""Alerts: rules as data, conditions found in the store, a lifecycle without floods, and notifications."""
