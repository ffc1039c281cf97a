"""Entry point: ``python -m digit_experiments.demo model_uri=...``: a page to try a model in the browser.

Serves a small page on http://127.0.0.1:8000 (``host=``, ``port=``; ``port=0``
takes any free port, and the log line shows it): draw a digit with the mouse
or a finger and the ten probabilities update as you draw, or drop an image
file on it. Drawings and files go through the training data's
standardisation (the page shows the 28×28 image the model saw), so they score
as ``predict`` scores the same files. Ctrl+C stops it (exit status 0); a bad
model URI, option or a port in use is one paragraph and exit status 2.

A thin Hydra wrapper: the server is :mod:`digit_experiments.inference.demo_server`,
imported only when the command runs, so ``--help`` stays fast and TensorFlow-free.
"""

from __future__ import annotations

import logging
import signal
import sys
from typing import Any, Mapping

from omegaconf import DictConfig

from digit_experiments.core import startup

log = logging.getLogger("digit_experiments")
startup.quiet_libraries()
startup.register_resolvers()


def demo(config: Mapping[str, Any]) -> int:
    """Load the model, then serve the demo page until interrupted.

    The port is opened first, so a port in use is reported in a second rather
    than after MLflow, TensorFlow and the model have loaded.

    Args:
        config: The resolved ``conf/demo.yaml`` as a plain dict.

    Returns:
        The exit status: 0 after Ctrl+C or SIGTERM.
    """
    startup.import_tensorflow()
    from digit_experiments.dataset.standardise import check_polarity
    from digit_experiments.inference.demo_server import DemoScorer, bind, serve

    check_polarity(config["polarity"])
    startup.interrupt_on_termination_signals()
    # A program started in the background by a non-interactive shell inherits SIGINT ignored;
    # a server is stopped with Ctrl+C (or SIGINT from its supervisor) all the same.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    server = bind(config["host"], int(config["port"]))
    try:
        # Imported once the port is ours: MLflow and TensorFlow take seconds to load.
        from digit_experiments import tracking
        from digit_experiments.inference.loading import load_ensemble, reads_tracking_store

        tracking.connect(config["tracking"], used=reads_tracking_store(config["model_uri"]))
        scorer = DemoScorer(load_ensemble(config["model_uri"], config["top"]), config["polarity"],
                            int(config["max_image_pixels"]))
        scorer.warm_up()
        log.info("Demo page on %s — Ctrl+C to stop", server.url)
        serve(server, scorer)
    except KeyboardInterrupt:
        log.info("Stopped.")
    finally:
        server.server_close()
    return 0


@startup.hydra_command("demo")
def main(cfg: DictConfig) -> None:
    """Serve the demo page; exit 0 when stopped, 2 for a user mistake."""
    sys.exit(startup.run_command(demo, cfg))


if __name__ == "__main__":
    main()
