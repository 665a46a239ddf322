"""The cabinet's settings module where a server names one (gunicorn's `raw_env`; tests): the settings of the
workspace the environment names (SVOD_HOME), read once, creating nothing."""

from cabinet.settings import *  # noqa: F403
from cabinet.settings import of_workspace
from pipeline.config import Workspace

globals().update(of_workspace(Workspace.resolve(create=False)))
