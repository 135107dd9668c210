"""An engine's own output while it starts (Ray's banners) goes to the run's log file, not the terminal.

Ray prints through its loggers, through ``sys.stderr`` and from the processes it starts; all three are
sent to the log. Standard output (where the progress and the table are drawn) is left alone. The run
with a real Ray cluster is in test_executors_ray_slurm.py.
"""

from __future__ import annotations

import logging
import subprocess
import sys

from mmerbench.execution.engine_log import engine_log_path, engine_output_to


def test_loggers_stderr_and_child_processes_go_to_the_log_and_stdout_stays(tmp_path, capfd):
    log = engine_log_path(tmp_path / "results", "engine")
    with engine_output_to(log, ("fake_engine",)):
        logging.getLogger("fake_engine.auth").warning("Token authentication is enabled (logger)")
        print("banner on sys.stderr", file=sys.stderr)
        subprocess.run([sys.executable, "-c", "import sys; sys.stderr.write('banner from a child process\\n')"],
                       check=True)
        print("progress line")  # the display's own output
    logging.getLogger("fake_engine").warning("a warning later in the run")
    print("an error of ours after the start", file=sys.stderr)
    out, err = capfd.readouterr()
    text = log.read_text()
    for banner in ("Token authentication is enabled (logger)", "banner on sys.stderr", "banner from a child process",
                   "a warning later in the run"):
        assert banner in text and banner not in out + err, banner
    assert "progress line" in out and "an error of ours after the start" in err
    assert log == tmp_path / "results" / "logs" / "engine.log"
