"""The ``laneway`` command: ``check``, ``run`` and ``demo`` (see ``main.py``)."""
