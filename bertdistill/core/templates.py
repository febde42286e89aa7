"""The Jinja2 environment every rendered document shares: the teacher's model card, the size
report and the explanations page each load their templates through
:func:`template_environment`."""

from __future__ import annotations

from jinja2 import Environment, PackageLoader, StrictUndefined

TEMPLATES = "templates"  # the folder of a package that holds its templates


def template_environment(package: str, *, html: bool) -> Environment:
    """The templates in ``package``'s ``templates/`` folder. ``html`` escapes every printed value
    (a page), otherwise values are printed as they are (Markdown). An undefined name fails
    rather than printing nothing; block tags leave no blank lines; a file's last newline stays."""
    return Environment(
        loader=PackageLoader(package, TEMPLATES),
        autoescape=html,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
