"""What every command (train, evaluate, predict, export) does around its work.

The commands are thin Hydra wrappers; the start-up policy they share lives
here so that it is written once:

* TensorFlow's C++ start-up chatter is silenced (``TF_CPP_MIN_LOG_LEVEL=2``
  unless the user set it), and so are MLflow's artifact download bars when
  stderr is not a terminal. The variables are read when the libraries are first
  imported, so each command calls :func:`quiet_libraries` when its module is
  imported, and imports TensorFlow itself only inside the function that runs
  the work (``--help`` and ``--cfg job`` never load it), through
  :func:`import_tensorflow`, which drops the lines no variable silences.
* SIGTERM and SIGHUP are turned into ``KeyboardInterrupt`` (:func:`interrupt_on_termination_signals`),
  so a killed training job's MLflow run ends KILLED instead of RUNNING. Every such signal, and
  Ctrl-C, is counted in :data:`SIGNALS_RECEIVED`, so that training can raise one again that
  Python lost.
* A :class:`~digit_experiments.core.errors.UserError` is one paragraph on
  stderr and exit status 2, without a traceback (:func:`run_command`).
* The configs are found in the checkout's ``conf/`` (:data:`CONFIG_DIR`), an
  absolute path: a relative ``config_path`` would be read as the Python
  package ``conf`` when a command runs as a console script (``digits-train``).
* An override Hydra's grammar cannot read (an unquoted ``/home/josé``), or two
  of Hydra's modes at once, is refused with the fix before Hydra starts
  (:func:`hydra_command`).
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import logging
import os
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, NoReturn, TypeVar

from omegaconf import DictConfig, OmegaConf

from digit_experiments.core.errors import ConfigError, exit_for_user_error, user_errors_exit

Result = TypeVar("Result")

#: ``config_path`` of every command's ``@hydra.main``: the ``conf/`` folder of the (editable) checkout.
CONFIG_DIR = str(Path(__file__).resolve().parents[2] / "conf")

#: TensorFlow's C++ log threshold: 2 keeps warnings and errors, drops the info lines printed at import.
TF_LOG_LEVEL = ("TF_CPP_MIN_LOG_LEVEL", "2")


def hydra_command(
    config_name: str, after_interrupt: str = "Run the command again."
) -> Callable[[Callable[[DictConfig], Result]], Callable[[], Result]]:
    """``@hydra.main`` on ``conf/<config_name>.yaml``, with the command line's overrides checked first.

    Hydra answers an override its grammar cannot read with its lexer's message,
    and two modes at once (``-m --cfg job``) with a traceback; this decorator
    answers them with one paragraph that names the fix, and exit status 2
    (:func:`digit_experiments.core.command_line.check_command_line`).
    An interrupt that reaches Hydra (a multirun's: Hydra passes it through) is
    one paragraph too, instead of Python's traceback (:func:`exit_interrupted`).

    Args:
        config_name: The command's primary config in :data:`CONFIG_DIR`.
        after_interrupt: What the interrupt paragraph says to do next.

    Returns:
        A decorator turning the command's task function into its entry point, which reads ``sys.argv``.
    """
    import hydra

    from digit_experiments.core.command_line import check_command_line

    def decorate(task: Callable[[DictConfig], Result]) -> Callable[[], Result]:
        hydra_main = hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name=config_name)(task)

        @functools.wraps(task)
        def main() -> Result:
            try:
                check_command_line(sys.argv[1:])
            except ConfigError as error:
                exit_for_user_error(error)
            try:
                return hydra_main()
            except KeyboardInterrupt as interrupt:
                exit_interrupted(interrupt, after_interrupt)

        return main

    return decorate


def register_resolvers() -> None:
    """Config resolvers the commands' Hydra settings use.

    * ``${pid:}``, this process's id: two runs started in the same second would
      otherwise share one output folder (``outputs/<date>/<time>``) and
      overwrite each other's checkpoints.
    * ``${command_groups:<command>}`` (:func:`command_groups`), for the
      one-shot commands' ``--help``.
    """
    OmegaConf.register_new_resolver("pid", os.getpid, replace=True)
    OmegaConf.register_new_resolver("command_groups", command_groups, replace=True)


def command_groups(command: str) -> str:
    """The config groups ``conf/<command>.yaml`` composes, one line each with its options.

    Hydra's ``--help`` lists every group in ``conf/``, the training groups
    included, which the one-shot commands refuse (``predict augment=none``).
    """
    from digit_experiments.core.validation import root_groups  # it reads CONFIG_DIR from here

    root = Path(CONFIG_DIR)
    return "\n".join(
        f"{group}: {', '.join(sorted(file.stem for file in (root / group).glob('*.yaml')))}"
        for group in root_groups(command) if group != "hydra"
    )


def quiet_libraries() -> None:
    """Silence TensorFlow's C++ info messages, and MLflow's download bars off a terminal, unless the environment chose.

    MLflow draws a progress bar for every artifact download (an ensemble of five
    models is a dozen of them), which in a log file is a line of redraws each.
    """
    os.environ.setdefault(*TF_LOG_LEVEL)
    if not sys.stderr.isatty():
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


#: Lines TensorFlow's C++ code writes at import whatever ``TF_CPP_MIN_LOG_LEVEL`` says (tensorflow/tensorflow#100442).
IMPORT_CHATTER = (
    "All log messages before absl::InitializeLog() is called are written to STDERR",
    "oneDNN custom operations are on",
)


def import_tensorflow() -> None:
    """Import TensorFlow, dropping the start-up lines in :data:`IMPORT_CHATTER` and keeping anything else it prints.

    Since TensorFlow 2.19 its C++ code logs these lines before its log level is
    read, so every command began with two ``WARNING``s and two oneDNN notes, twice
    over. They are written to file descriptor 2 by C++, which no Python logging
    or ``sys.stderr`` setting reaches, so the import runs with that descriptor
    pointed at a temporary file, whose other lines are then passed on. A user who
    asked for TensorFlow's info lines (``TF_CPP_MIN_LOG_LEVEL=0`` or ``1``) gets
    them all. Written by hand: neither TensorFlow nor absl offers a switch.
    """
    if "tensorflow" in sys.modules:
        return
    if os.environ.get(TF_LOG_LEVEL[0], TF_LOG_LEVEL[1]) in ("0", "1"):
        importlib.import_module("tensorflow")
        return
    sys.stderr.flush()
    with tempfile.TemporaryFile() as captured:
        terminal = os.dup(2)
        os.dup2(captured.fileno(), 2)
        try:
            importlib.import_module("tensorflow")
        finally:
            sys.stderr.flush()
            os.dup2(terminal, 2)
            os.close(terminal)
            captured.seek(0)
            lines = captured.read().decode(errors="replace").splitlines(keepends=True)
            sys.stderr.write("".join(line for line in lines if not any(chatter in line for chatter in IMPORT_CHATTER)))
            sys.stderr.flush()


#: How :func:`interrupt_on_termination_signals` labels the ``KeyboardInterrupt`` it raises.
SIGNAL_PREFIX = "signal "


def interrupting_signal(interrupt: KeyboardInterrupt) -> int:
    """The signal behind ``interrupt``: the one :func:`interrupt_on_termination_signals` turned into it, else SIGINT."""
    label = str(interrupt)
    return int(label[len(SIGNAL_PREFIX):]) if label.startswith(SIGNAL_PREFIX) else int(signal.SIGINT)


#: The signals the handler of :func:`interrupt_on_termination_signals` turned into interrupts, in order.
SIGNALS_RECEIVED: list[int] = []
#: The interrupt that stopped the command, once :func:`exit_interrupted` is ending it (for ``atexit`` handlers).
STOPPED_BY: list[KeyboardInterrupt] = []


def exit_interrupted(interrupt: KeyboardInterrupt, after: str) -> NoReturn:
    """End the command stopped by ``interrupt`` with one paragraph and the shell's status for the signal.

    The status is 130 for Ctrl-C and 128 + N for signal N (SIGTERM, SIGHUP), as
    if the process had died of it. The interrupt is kept in :data:`STOPPED_BY`,
    where Python would have left it in ``sys.last_value`` had it printed the
    traceback, so that exit handlers can tell an interrupted command from a failed one.

    Args:
        interrupt: What stopped the command.
        after: What to do next, a sentence.
    """
    STOPPED_BY.append(interrupt)
    print(f"\n{interrupted_message(interrupt, after)}", file=sys.stderr)
    sys.exit(128 + interrupting_signal(interrupt))


def interrupted_message(interrupt: KeyboardInterrupt, after: str) -> str:
    """``Interrupted (Ctrl-C). <after>``, naming the signal behind ``interrupt``."""
    signal_number = interrupting_signal(interrupt)
    return f"Interrupted ({'Ctrl-C' if signal_number == signal.SIGINT else f'signal {signal_number}'}). {after}"


def signal_interrupt(signum: int) -> KeyboardInterrupt:
    """The ``KeyboardInterrupt`` that stands for signal ``signum`` (see :func:`interrupting_signal`)."""
    return KeyboardInterrupt(f"{SIGNAL_PREFIX}{signum}")


def raise_signal_received_since(count: int) -> None:
    """Raise the interrupt of the latest signal if :data:`SIGNALS_RECEIVED` grew past ``count``.

    An interrupt that propagated never reaches this check; one Python lost in an
    object's ``__del__`` does (see :func:`interrupt_on_termination_signals`).
    """
    if len(SIGNALS_RECEIVED) > count:
        raise signal_interrupt(SIGNALS_RECEIVED[-1])


@contextlib.contextmanager
def raising_lost_interrupts() -> Iterator[None]:
    """Raise at the end of the block the interrupt of a signal that arrived inside it and was lost.

    Training checks at every batch
    (:class:`~digit_experiments.training.callbacks.stop_on_signal.StopOnSignal`);
    this covers a run's other steps (scoring the test sets, the plots, the model
    upload), so that a SIGTERM lost there ends the run KILLED instead of FINISHED.
    """
    before = len(SIGNALS_RECEIVED)
    yield
    raise_signal_received_since(before)


def interrupt_on_termination_signals() -> None:
    """Treat SIGTERM and SIGHUP like Ctrl-C, so that a killed job's run is marked KILLED, not left RUNNING.

    SIGHUP is what a job gets when its terminal closes or its SSH session drops;
    Python's default for it ends the process on the spot, without cleanup. Ctrl-C
    (SIGINT) gets the same handler, which raises ``KeyboardInterrupt`` as Python's
    own does, so that all three are appended to :data:`SIGNALS_RECEIVED`: an
    interrupt raised while the main thread runs an object's ``__del__`` is printed
    as "Exception ignored" and lost, and training raises it again from that list
    (:class:`~digit_experiments.training.callbacks.stop_on_signal.StopOnSignal`).

    A signal the process was started with ignored stays ignored: ``nohup`` ignores
    SIGHUP so that a job outlives its terminal, and a non-interactive shell starts
    a background job (``&``) with SIGINT ignored.
    """

    def handler(signum: int, frame: object) -> None:
        SIGNALS_RECEIVED.append(signum)
        raise signal_interrupt(signum)

    for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        if signal.getsignal(signum) != signal.SIG_IGN:
            signal.signal(signum, handler)
    if not isinstance(sys.unraisablehook, _LostInterruptReport):  # once, however many sweep jobs call this
        sys.unraisablehook = _LostInterruptReport(sys.unraisablehook)


class _LostInterruptReport:
    """Python's hook for exceptions it cannot raise, with a signal's lost interrupt told in one line.

    Python prints such an interrupt as "Exception ignored in ..." with a traceback
    through the finalizer it hit; the user needs to know only that the signal is
    acted on at the next batch, or at the end of the run's current step. Every other exception goes to the hook it replaced.
    """

    def __init__(self, replaced: Callable[[Any], None]) -> None:
        self.replaced = replaced

    def __call__(self, unraisable: Any) -> None:
        if isinstance(unraisable.exc_value, KeyboardInterrupt) and str(unraisable.exc_value).startswith(SIGNAL_PREFIX):
            print(f"Received {unraisable.exc_value} while Python was finalising an object; "
                  "the run stops at the end of the current batch or step.", file=sys.stderr)
            return
        self.replaced(unraisable)


def log_to_files(logger: logging.Logger, level: int, message: str) -> None:
    """Write ``message`` through ``logger`` to the log files Hydra opened (``train.log``) only, not the console.

    For what the console shows already in another form: an error printed as a
    paragraph, or an epoch Keras printed its own line for.
    """
    record = logger.makeRecord(logger.name, level, __file__, 0, "%s", (message,), None)
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)


def run_command(work: Callable[[Mapping[str, Any]], Result], cfg: DictConfig) -> Result:
    """Run a command's work on its resolved config; a user mistake exits with status 2.

    A required option left out (``???`` in its config), a key nothing reads
    (``+formatt=json``; checked when Hydra composed the config) or a value of
    the wrong kind (``batch_size=0``, ``tta=no``) stops the command before any work.

    Args:
        work: The command's body; it receives the config as a plain, resolved dict.
        cfg: The config Hydra composed for the command.

    Returns:
        What ``work`` returns.
    """
    from hydra.core.hydra_config import HydraConfig

    from digit_experiments.core.validation import check_known_keys, check_required, check_values  # they read CONFIG_DIR

    with user_errors_exit():
        check_required(cfg)
        config = OmegaConf.to_container(cfg, resolve=True)
        if HydraConfig.initialized():
            check_known_keys(config, HydraConfig.get().job.config_name)
        check_values(config)
        return work(config)
