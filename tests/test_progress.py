"""Progress on long work: periodic lines without a TTY, a bar that log lines never break on a terminal, and a
sweep's job k/N with the jobs skipped by resume counted."""

from __future__ import annotations

import fcntl
import logging
import os
import pty
import re
import struct
import subprocess
import sys
import termios

from optbench import progress

from .test_cli import optbench, optbench_env


def test_line_progress_writes_one_line_per_interval_and_one_at_the_end(monkeypatch, caplog):
    clock = [0.0]
    monkeypatch.setattr(progress.time, "monotonic", lambda: clock[0])
    caplog.set_level(logging.INFO, logger="optbench.progress")
    p = progress.LineProgress(total=100, desc="mnist_mlp/adam", unit="step", every_s=30)
    for _ in range(100):
        clock[0] += 1.0  # 100 steps over 100 s
        p.update(1)
        p.set_postfix(loss="0.5")
    p.close()
    p.close()  # closing twice writes nothing more
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 4  # at 30, 60 and 90 s, then the end
    assert lines[0] == "mnist_mlp/adam: 30/100 steps (30%), 30 s, ~70 s left, loss=0.5"
    assert lines[-1] == "mnist_mlp/adam: 100/100 steps (100%), 100 s, loss=0.5"


def test_a_sweep_in_a_pipe_prints_job_k_of_n_and_progress_lines_and_counts_skipped_jobs(tmp_path):
    args = ["-m", "task=rosenbrock", "optimizer=sgd,adam", "seed=0,1", "logger=none"]
    out = optbench(tmp_path, *args, env={progress.EVERY_ENV: "0"})  # every update: 300 steps -> at most 300 lines
    assert out.returncode == 0, out.stderr[-2000:]
    text = out.stdout + out.stderr
    for k in range(1, 5):
        assert f"Job {k}/4: run rosenbrock-" in text
    assert "rosenbrock/adam (job 4/4): 300/300 steps (100%)" in text
    assert "\r" not in text  # no bar redraws in a log
    assert "(4 jobs: 4 trained, 0 already in the store)" in text
    again = optbench(tmp_path, *args, "optimizer=sgd,adam,adax")
    text = again.stdout + again.stderr
    assert re.search(r"Job \d/6: run rosenbrock-sgd-\w+ is already in the store", text)
    assert "(6 jobs: 2 trained, 4 already in the store)" in text
    quiet = optbench(tmp_path, "task=rosenbrock", "optimizer=rmsprop", "logger=none")  # default: every 30 s
    progress_lines = [line for line in (quiet.stdout + quiet.stderr).splitlines() if "optbench.progress" in line]
    assert len(progress_lines) == 1 and "300/300 steps (100%)" in progress_lines[0]  # only the closing line


def test_tuning_sweep_counts_its_planned_jobs(tmp_path):
    args = ["-m", "experiment=tune", "task=rosenbrock", "optimizer=sgd", "logger=none", "task.max_steps=20"]
    out = optbench(tmp_path, *args, "hydra.sweeper.num_lrs=3", "hydra.sweeper.seeds=[0,1]")
    assert out.returncode == 0, out.stderr[-2000:]
    text = out.stdout + out.stderr
    assert "Job 1/5: run" in text and "Job 5/5: run" in text  # 3 grid lrs + 2 seeds (seed 0's is a grid run)
    assert "(5 jobs: 4 trained, 1 already in the store)" in text


def test_on_a_terminal_log_lines_go_above_the_bar_never_into_it(tmp_path):
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 160, 0, 0))  # a 160-column terminal
    proc = subprocess.Popen(
        [sys.executable, "-m", "optbench", "task=rosenbrock", "task.eval_every=50", "logger=none"],
        cwd=tmp_path,
        env=optbench_env(),
        stdin=slave,
        stdout=slave,
        stderr=slave,
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    assert proc.wait(timeout=120) == 0
    os.close(master)
    raw = b"".join(chunks).decode(errors="replace")
    assert "%|" in raw and "step/s" in raw  # a tqdm bar was drawn
    evals = [m.start() for m in re.finditer(r"\[optbench\.runner\]\[INFO\] - eval at step", raw)]
    assert len(evals) == 5
    for at in evals:
        line_start = max(raw.rfind("\n", 0, at), raw.rfind("\r", 0, at)) + 1
        prefix = raw[line_start:at]
        assert "%|" not in prefix and "step/s" not in prefix, repr(raw[line_start - 80 : at + 40])
