"""``from azureml_user.parallel_run import EntryScript`` as in Azure's ParallelRunStep.

Standard library only: it runs inside scoring processes, isolated environments included.
The values come from the environment the emulator sets for every scoring process.
"""

from __future__ import annotations

import logging
import os
import time


class EntryScript:
    """Singleton helper giving a scoring script its logger and folders, as PRS does."""

    _instance: EntryScript | None = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
            cls._instance._logger = None
        return cls._instance

    @property
    def agent_name(self) -> str:
        return os.environ.get("AZUREML_EMULATOR_AGENT_NAME", f"process{os.getpid()}")

    @property
    def working_dir(self) -> str:
        return os.environ.get("AZUREML_EMULATOR_WORKING_DIR", os.getcwd())

    @property
    def dir(self) -> str:
        return os.environ.get("AZUREML_EMULATOR_SCRIPT_DIR", os.getcwd())

    @property
    def output_dir(self) -> str:
        path = os.environ.get("AZUREML_BI_OUTPUT_PATH", ".")
        os.makedirs(path, exist_ok=True)
        return path

    @property
    def log_dir(self) -> str:
        path = os.environ.get("AZUREML_EMULATOR_ENTRY_SCRIPT_LOG_DIR") or os.path.join(
            self.working_dir, "logs", "user", "entry_script_log"
        )
        os.makedirs(path, exist_ok=True)
        return path

    @property
    def logger(self) -> logging.Logger:
        if self._logger is None:
            logger = logging.getLogger(f"azureml_user.{self.agent_name}")
            handler = logging.FileHandler(
                os.path.join(self.log_dir, f"{self.agent_name}.log.txt"), encoding="utf-8"
            )
            formatter = logging.Formatter(
                "%(asctime)s|%(name)s|%(levelname)s|%(process)d|%(thread)d|%(funcName)s()|%(message)s"
            )
            formatter.converter = time.gmtime
            handler.setFormatter(formatter)
            logger.addHandler(handler)
            logger.setLevel(logging.DEBUG)
            self._logger = logger
        return self._logger
