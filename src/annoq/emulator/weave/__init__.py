"""The emulated W&B Weave service: annotation queues, feedback, objects."""
