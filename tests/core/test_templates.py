import jinja2
import pytest

from bertdistill.core.templates import template_environment


def render(html: bool, source: str, **values) -> str:
    return template_environment("bertdistill.explain", html=html).from_string(source).render(values)


def test_a_page_escapes_what_it_prints_and_markdown_prints_it_as_it_is():
    word = "<b>&'"
    assert render(True, "{{ word }}", word=word) == "&lt;b&gt;&amp;&#39;"
    assert render(False, "{{ word }}", word=word) == word


def test_an_undefined_name_fails_and_block_tags_leave_no_blank_lines():
    with pytest.raises(jinja2.UndefinedError):
        render(False, "{{ missing }}")
    rows = "  {% for row in rows %}\n  {{ row }}\n  {% endfor %}\n"
    assert render(False, rows, rows=[1, 2]) == "  1\n  2\n"


def test_a_templates_last_newline_stays():
    assert render(False, "{{ word }}\n", word="end") == "end\n"


PACKAGES = {
    "bertdistill.teacher": "model_card.md.j2",
    "bertdistill.evaluation": "size_frontier.md.j2",
    "bertdistill.explain": "report.html.j2",
}


@pytest.mark.parametrize(("package", "template"), PACKAGES.items())
def test_each_package_loads_its_own_templates_folder(package, template):
    listed = {name: template_environment(name, html=False).list_templates() for name in PACKAGES}
    assert template in listed[package]
    assert not any(template in names for name, names in listed.items() if name != package)
