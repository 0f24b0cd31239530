"""A fuzzing harness for inspectr (issue 20): structured mutation of the real fixture images
(JSON documents, tar headers, compression, the files around the blobs), with digests recomputed
so that mutants reach the parsers, each mutant run through the real CLI in a forked child and
judged against docs/errors.md.

    draw.py       where choices come from: hypothesis (CI) or a seeded random.Random (long run)
    corpus.py     the seed images, read from fixtures/, and writing a mutant back to disk
    tarfmt.py     raw tar headers, member framing, compression helpers
    jsonmut.py    JSON mutations          tarmut.py   tar mutations (layers and outer archives)
    compmut.py    compression mutations   layoutmut.py  files around the blobs, outer-tar bytes
    fixup.py      digests recomputed, up to index.json
    mutate.py     a mutant: one to three mutations, deepest first
    runner.py     one CLI run in a forked child: time bound, write audit, the anomaly rules
    campaign.py   one mutant through every target command

tests/test_fuzz.py runs it in CI with a fixed seed; benchmarks/fuzz.py is the long run; the
results are in docs/hostile-inputs.md."""
