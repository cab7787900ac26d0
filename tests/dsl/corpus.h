/*
 * Valid definitions used by the round-trip property test and as fuzz
 * seeds: the TCK's stream cases plus flow's own.
 */
#ifndef FLOW_TEST_DSL_CORPUS_H
#define FLOW_TEST_DSL_CORPUS_H

static const char *const dsl_corpus[] = {
    "foo",
    "gemfire-cq",
    "mystream = foo",
    "bar = foo | bar",
    "foo-bar = http | transform | sink",
    "foo | bar",
    "label: http",
    "food = http | label3: foo",
    "http | foo: bar | file",
    "file | out: file",
    "foo --name=value",
    "foo --name=value --x=y",
    ("gemfire-cq --query='Select * from /Stocks where symbol=''VMW''' "
     "--regionName=foo --foo=bar"),
    "foo --x=1 --y=two ",
    "foo --spring.cloud.x=1 --a.b=c",
    "aaa | filter --expression=#jsonPath(payload,'$.lang')=='en'",
    "aaa --bbb=ccc,",
    "aaa --bbb='ccc'|| bbb",
    "foo|| bar|| baz",
    "foo --aaa=,|| bar",
    "foo --aaa=\"bbb\" || bar",
    ":mystream.group1 > file",
    ":foobar > file",
    ":a/*# > file",
    ":foo.* > file",
    ":*foo > file",
    "http > :foo/*#",
    "wibble: http > :bar",
    ":bar > :boo",
    ":test --group=test > file",
    "foo | transform --expression=--payload | bar",
    (":producer > transform --expression='payload.toUpperCase()' | filter "
     "--expression='payload.length() > 4'> :consumer"),
    "http | transform --outputType='text/plain|charset=UTF-8'  | log",
    "http | transform --outputType='text/plain;charset=UTF-8'  | log",
    "http | transform --expression='hi'+payload | log",
    "http | transform --expression=payload+'hi' | log",
    "http | transform --expression='''hi''+payload' | log",
    "http | transform --expression=\"'hi'+payload\" | log",
    "http | transform --expression=payload+'hi'--param2='foobar' | log",
    "http | transform --expression='hi'+'world' | log",
    "http | filter --expression=payload.matches('hello world') | log",
    "http | transform --expression=\"''''hi''''\" | log",
    "http | transform --expression='payload.replace(\"abc\", '''')' | log",
    ":producer > foobar --expression='aaa=bbb \n ccc=ddd' > :consumer",
    "a --x=\"say \"\"hi\"\"\" --y='' --z='it''s \"both\"'",
    "accounts = load-sim --rate=50000 | account-events | counter",
    "s = :in --group=g > a: x --k='v w' | b: x > :out",
};

#endif
