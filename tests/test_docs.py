"""The README and docs stand on their own in a user's clone."""

import re

from tests.helpers import ROOT


def test_every_relative_link_in_the_docs_exists():
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", doc.read_text()):
            if "://" in target:
                continue
            assert (doc.parent / target).exists(), f"{doc.name} links to missing {target}"
            assert "shared/" not in target, f"{doc.name} links outside the repository"


def test_readme_names_no_file_outside_the_repository():
    assert "shared/" not in (ROOT / "README.md").read_text()
