"""``test``: automation test cases in ``configs/tests/*.yaml``, run without a Prefect server."""
