"""Label descriptions through the formats that hold them: ELAN controlled vocabulary entries and
Label Studio label hints (a labeling config beside the JSON export). Import checks them and sets
them on the labels with the rest, atomically; export writes them back."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from otcore.formats import AnnotationSet, ImportRejected, VideoAnnotations, read, write
from otcore.formats.labelstudio import label_config_path
from otcore.service.transfer import export_from_store, import_into_store
from otcore.store import Store
from otcore.types import Segment

LONG = "a person runs up, plants the pole and swings over the bar\nthen lands on the mat"

EAF_27 = """<?xml version='1.0' encoding='UTF-8'?>
<ANNOTATION_DOCUMENT AUTHOR="" DATE="2020-01-01T00:00:00+00:00" FORMAT="2.7" VERSION="2.7">
  <HEADER MEDIA_FILE="" TIME_UNITS="milliseconds">
    <MEDIA_DESCRIPTOR MEDIA_URL="file:///v_old.mp4" MIME_TYPE="video/mp4" />
  </HEADER>
  <TIME_ORDER>
    <TIME_SLOT TIME_SLOT_ID="ts1" TIME_VALUE="1000" />
    <TIME_SLOT TIME_SLOT_ID="ts2" TIME_VALUE="2000" />
  </TIME_ORDER>
  <TIER LINGUISTIC_TYPE_REF="acts" TIER_ID="acts">
    <ANNOTATION><ALIGNABLE_ANNOTATION ANNOTATION_ID="a1" TIME_SLOT_REF1="ts1" TIME_SLOT_REF2="ts2">
      <ANNOTATION_VALUE>pour</ANNOTATION_VALUE></ALIGNABLE_ANNOTATION></ANNOTATION>
  </TIER>
  <LINGUISTIC_TYPE CONTROLLED_VOCABULARY_REF="acts" GRAPHIC_REFERENCES="false" LINGUISTIC_TYPE_ID="acts" TIME_ALIGNABLE="true" />
  <CONTROLLED_VOCABULARY CV_ID="acts" DESCRIPTION="kitchen actions">
    <CV_ENTRY DESCRIPTION="liquid goes from a jug into a cup">pour</CV_ENTRY>
    <CV_ENTRY DESCRIPTION="a spoon turns in the cup">stir</CV_ENTRY>
  </CONTROLLED_VOCABULARY>
</ANNOTATION_DOCUMENT>
"""


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    url = (
        f"sqlite:///{tmp_path / 'st.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    )
    st = Store(url, data_dir=tmp_path)
    yield st
    st.close()


def _set(descriptions: dict[str, str]) -> AnnotationSet:
    return AnnotationSet(
        {
            "v1.mp4": VideoAnnotations(
                duration=10.0, fps=25.0, segments=[Segment("jump", 1.0, 2.0), Segment("run", 3.0, 5.0)]
            ),
            "v2.mp4": VideoAnnotations(duration=8.0, fps=25.0, segments=[Segment("run", 6.0, 7.0)]),
        },
        descriptions=descriptions,
    )


@pytest.mark.parametrize(("fmt", "target"), [("eaf", "out"), ("labelstudio", "out.json")])
def test_descriptions_round_trip_through_the_file(tmp_path: Path, fmt: str, target: str) -> None:
    want = {"jump": LONG, "run": 'runs "fast" & <far>', "idle": "stands still"}
    write(_set(want), tmp_path / target, fmt)
    got, report = read(tmp_path / target, fmt, accept_unknown=True)
    assert not report.invalid
    assert got.descriptions == want  # "idle" has no segment: its description travels all the same
    assert sorted((v, s.label, s.start) for v, va in got.items() for s in va.segments) == [
        ("v1.mp4", "jump", 1.0),
        ("v1.mp4", "run", 3.0),
        ("v2.mp4", "run", 6.0),
    ]


def test_no_descriptions_write_nothing_new(tmp_path: Path) -> None:
    write(_set({}), tmp_path / "ls.json", "labelstudio")
    assert not label_config_path(tmp_path / "ls.json").exists()
    write(_set({}), tmp_path / "eaf", "eaf")
    root = ET.parse(tmp_path / "eaf" / "v1.mp4.eaf").getroot()
    assert root.find("CONTROLLED_VOCABULARY") is None and root.find("LANGUAGE") is None


def test_elan_vocabulary_in_schema_order(tmp_path: Path) -> None:
    write(_set({"jump": "leaps"}), tmp_path / "eaf", "eaf")
    root = ET.parse(tmp_path / "eaf" / "v1.mp4.eaf").getroot()
    tags = [el.tag for el in root]
    assert tags.index("LINGUISTIC_TYPE") < tags.index("LANGUAGE") < tags.index("CONTROLLED_VOCABULARY")
    value = root.find("CONTROLLED_VOCABULARY/CV_ENTRY_ML/CVE_VALUE")
    assert value is not None and value.text == "jump" and value.get("DESCRIPTION") == "leaps"
    assert value.get("LANG_REF") == root.find("LANGUAGE").get("LANG_ID")  # type: ignore[union-attr]


def test_elan_import_sets_descriptions_and_export_updates_the_vocabulary(
    store: Store, tmp_path: Path
) -> None:
    src = tmp_path / "v_old.eaf"
    src.write_text(EAF_27)
    report = import_into_store(store, src, "p")
    assert report.imported == 1
    pid = store.get_project("p").id  # type: ignore[union-attr]
    # "stir" has no segment and is not a label of the project: its description is not applied
    assert store.label_descriptions(pid) == {"pour": "liquid goes from a jug into a cup"}
    pour = next(lb for lb in store.list_labels(pid) if lb.name == "pour")
    store.set_label_description(pour.id, "tips the jug")
    (path,) = export_from_store(store, "p", tmp_path / "out", "eaf")
    root = ET.parse(path).getroot()
    cvs = root.findall("CONTROLLED_VOCABULARY")
    assert len(cvs) == 1  # the document's own (2.7) vocabulary, updated in place
    entries = {e.text: e.get("DESCRIPTION") for e in cvs[0].findall("CV_ENTRY")}
    assert entries == {"pour": "tips the jug", "stir": "a spoon turns in the cup"}
    assert cvs[0].get("DESCRIPTION") == "kitchen actions"


def test_label_studio_import_and_export_through_the_store(store: Store, tmp_path: Path) -> None:
    write(_set({"jump": LONG, "run": "runs"}), tmp_path / "ls.json", "labelstudio")
    report = import_into_store(store, tmp_path / "ls.json", "q")
    assert report.imported == 3
    pid = store.get_project("q").id  # type: ignore[union-attr]
    assert store.label_descriptions(pid) == {"jump": LONG, "run": "runs"}
    run = next(lb for lb in store.list_labels(pid) if lb.name == "run")
    store.set_label_description(run.id, "")  # cleared in the app: the hint goes from the export
    export_from_store(store, "q", tmp_path / "back.json", "labelstudio")
    root = ET.parse(label_config_path(tmp_path / "back.json")).getroot()
    hints = {el.get("value"): el.get("hint") for el in root.iter("Label")}
    assert hints == {"jump": LONG, "run": None}
    assert json.loads((tmp_path / "back.json").read_text()) == json.loads((tmp_path / "ls.json").read_text())


def test_a_bad_description_refuses_the_file_and_nothing_is_stored(store: Store, tmp_path: Path) -> None:
    # (XML cannot hold most control characters at all; U+2028 it can, and the store refuses it)
    write(_set({"jump": "bad\u2028line", "run": "x" * 2001}), tmp_path / "ls.json", "labelstudio")
    with pytest.raises(ImportRejected, match="label description") as err:
        import_into_store(store, tmp_path / "ls.json", "r")
    details = " ".join(item.describe() for item in err.value.report.invalid)
    assert "U+2028" in details and "at most 2000" in details
    assert store.get_project("r") is None
    report = import_into_store(store, tmp_path / "ls.json", "r", skip_invalid=True)
    assert report.imported == 3  # the segments, without the refused descriptions
    assert store.label_descriptions(store.get_project("r").id) == {}  # type: ignore[union-attr]


def test_an_existing_label_gets_the_imported_description(store: Store, tmp_path: Path) -> None:
    p = store.create_project("s")
    lab = store.ensure_label(p.id, "jump")
    write(_set({"jump": "leaps"}), tmp_path / "ls.json", "labelstudio")
    import_into_store(store, tmp_path / "ls.json", "s")
    assert store.get_label(lab.id).description == "leaps"  # type: ignore[union-attr]


def test_a_zipped_export_with_its_config_and_the_cli_option(tmp_path: Path, data_dir: Path) -> None:
    import zipfile

    from otcore.service.transfer import import_main
    from otcore.settings import load_settings

    write(_set({"jump": "leaps"}), tmp_path / "ls.json", "labelstudio")
    with zipfile.ZipFile(tmp_path / "ls.zip", "w") as zf:
        zf.write(tmp_path / "ls.json", "ls.json")
        zf.write(label_config_path(tmp_path / "ls.json"), "ls.label_config.xml")
    elsewhere = tmp_path / "configs" / "project.xml"
    elsewhere.parent.mkdir()
    label_config_path(tmp_path / "ls.json").rename(elsewhere)
    st = Store.from_settings(load_settings(data_dir))
    try:
        assert import_main([str(tmp_path / "ls.zip"), "--project", "z", "--data-dir", str(data_dir)]) == 0
        assert st.label_descriptions(st.get_project("z").id) == {"jump": "leaps"}  # type: ignore[union-attr]
        argv = [str(tmp_path / "ls.json"), "--project", "c", "--data-dir", str(data_dir)]
        assert import_main(argv) == 0  # no config beside the JSON: no descriptions
        assert st.label_descriptions(st.get_project("c").id) == {}  # type: ignore[union-attr]
        assert import_main([*argv[:2], "c2", *argv[3:], "--label-config", str(elsewhere)]) == 0
        assert st.label_descriptions(st.get_project("c2").id) == {"jump": "leaps"}  # type: ignore[union-attr]
        assert import_main([*argv, "--label-config", str(tmp_path / "missing.xml")]) == 1
    finally:
        st.close()
