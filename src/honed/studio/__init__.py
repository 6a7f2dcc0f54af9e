"""honed studio: a local web app over a workspace folder: its runs, its data, new runs launched and watched live.

A view and a launcher over what is on disk (STYLE.md, "Web apps"): runs stay ordinary run directories, a training
is `honed train` in its own process, and a studio restart loses nothing.
"""

from honed.studio.app import create_app

__all__ = ["create_app"]
