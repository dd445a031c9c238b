"""The README and docs stand on their own in a user's clone."""

import re

from tests.helpers import ROOT


def test_every_relative_link_in_the_docs_exists():
    for doc in [
        ROOT / "README.md",
        ROOT / "bench" / "README.md",
        *sorted((ROOT / "docs").glob("*.md")),
    ]:
        for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", doc.read_text()):
            if "://" in target:
                continue
            assert (doc.parent / target).exists(), f"{doc.name} links to missing {target}"
            assert "shared/" not in target, f"{doc.name} links outside the repository"


def test_readme_names_no_file_outside_the_repository():
    assert "shared/" not in (ROOT / "README.md").read_text()


def _variables_the_code_reads() -> set[str]:
    """Every OFFLOAD_* name in the code: settings' reads and the CLI's ``envvar=``s."""
    names = set()
    for path in [ROOT / "offload_console" / "settings.py", ROOT / "offload_console" / "cli.py"]:
        names |= set(re.findall(r"\b(OFFLOAD_[A-Z0-9_]+)\b", path.read_text()))
    return names


def test_every_environment_variable_the_code_reads_is_in_the_configuration_table():
    table = (ROOT / "docs" / "configuration.md").read_text()
    names = _variables_the_code_reads()
    assert {"OFFLOAD_CONSOLE_MODE", "OFFLOAD_CONSOLE_NO_UVLOOP", "OFFLOAD_API_KEY"} <= names
    missing = sorted(name for name in names if f"| `{name}` |" not in table)
    assert not missing, f"docs/configuration.md does not document {missing}"


def test_the_readme_is_read_in_five_minutes():
    """About 1,000 words a screenful at a time: sqlite-utils' README is 101 lines, httpx's 147."""
    assert len((ROOT / "README.md").read_text().splitlines()) <= 150


def test_every_benchmark_script_is_in_the_benchmarks_readme():
    listed = (ROOT / "bench" / "README.md").read_text()
    scripts = [p.name for p in (ROOT / "bench").glob("*.py") if not p.name.startswith("_")]
    helpers = {"__init__.py", "common.py", "generate.py", "hello_app.py"}
    missing = [name for name in scripts if name not in helpers and f"bench/{name}" not in listed]
    assert not missing, f"bench/README.md does not list {missing}"


def test_every_command_and_option_is_in_the_readme():
    import click

    from offload_console.cli import cli

    readme = (ROOT / "README.md").read_text()
    table = readme.split("### Commands and their options", 1)[1].split("\n#", 1)[0]
    missing = []

    def walk(group: click.Group, words: list[str]) -> None:
        for name, command in group.commands.items():
            path = [*words, name]
            if isinstance(command, click.Group):
                walk(command, path)
                continue
            line = next(
                (row for row in table.splitlines() if f"`offload-console {' '.join(path)}`" in row),
                None,
            )
            if line is None:
                missing.append(" ".join(path))
                continue
            for param in command.params:
                if isinstance(param, click.Option) and f"`{param.opts[0]}" not in line:
                    missing.append(f"{' '.join(path)} {param.opts[0]}")

    walk(cli, [])
    assert not missing, f"README.md's command table lacks {missing}"
