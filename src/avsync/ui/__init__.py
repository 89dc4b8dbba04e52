"""The web page: upload recordings, sync them in the background, review them side by side with
one seek bar, download the synced copies. Start it with ``avsync ui`` (needs ``avsync[ui]``).

>>> from avsync.ui.app import create_app           # doctest: +SKIP
>>> app = create_app("/tmp/avsync-ui")              # doctest: +SKIP
>>> from avsync.ui.server import serve              # doctest: +SKIP
>>> serve("127.0.0.1", 8000)                        # doctest: +SKIP

Flask is imported only by :mod:`avsync.ui.app` and :mod:`avsync.ui.server`.
"""
