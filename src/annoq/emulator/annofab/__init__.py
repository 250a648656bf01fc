"""The emulated Annofab service: the task API and its data surface under ``/api/v1``."""
