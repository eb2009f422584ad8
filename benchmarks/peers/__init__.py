"""The peers, one module each, every one a :class:`workload.System` on the same workload.

Each module says what its verify does and where the peer cannot express the workload as we
do. They import the packages of the ``bench`` extra (``pip install -e '.[bench]'``).
"""
