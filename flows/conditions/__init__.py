"""Condition triggers: evaluating a JSONPath condition on a metrics document, and the watcher that checks them."""
