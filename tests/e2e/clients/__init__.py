"""Helpers for driving jobd with third-party 9P clients (see ``steps.py``, ``venvs.py``)."""
