"""README's 1000-job Slurm sweep: its config file is a valid run configuration and asks sbatch for what it says."""

from __future__ import annotations

import re
from pathlib import Path

from mmerbench.config import RunConfig
from mmerbench.execution.sbatch_options import check_slurm_options
from mmerbench.execution.slurm_pool import sbatch_script

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_sweep_config_in_the_readme_is_valid_and_reaches_the_sbatch_script(tmp_path):
    block = re.search(r"```toml\n# sweep\.toml[^\n]*\n(.*?)```", README.read_text(), re.S)
    assert block, "README lost its sweep.toml example"
    (tmp_path / "sweep.toml").write_text(block.group(1))
    config = RunConfig.from_toml(str(tmp_path / "sweep.toml")).checked()
    check_slurm_options(config)
    script = sbatch_script(config, 1000, tmp_path).splitlines()
    for line in ("#SBATCH --account=proj-0042", "#SBATCH --qos=normal", "#SBATCH --mem=32G",
                 "#SBATCH --gres=gpu:a100:1", "#SBATCH --array=0-999%100", "#SBATCH --time=240"):
        assert line in script, line
    assert any(line.startswith("#SBATCH --mail-type=") for line in script)
