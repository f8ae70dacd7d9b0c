"""路政巡查日志: the road patrol log (pages, HTTP routes, the ``patrol`` command)."""

__version__ = "0.1.0"
