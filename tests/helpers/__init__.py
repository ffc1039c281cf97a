"""Helpers shared by the tests: the real config through Hydra's compose API, the real CLI in a subprocess, ports."""

from helpers.cli import CONF_DIR, PROJECT_ROOT, command_environment, compose_config, run_cli, run_config
from helpers.imports import imported_modules, top_level
from helpers.mlflow_server import MlflowServer
from helpers.model_server import post, served_model
from helpers.network import closed_port, free_port
from helpers.postgres import PostgresCluster, find_binary

__all__ = [
    "CONF_DIR", "MlflowServer", "PROJECT_ROOT", "PostgresCluster", "find_binary", "closed_port", "command_environment", "compose_config", "free_port", "imported_modules", "post", "run_cli", "run_config",
    "served_model", "top_level",
]
