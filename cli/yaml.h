/*
 * A small YAML emitter for flowctl: a JSON document as block-style YAML
 * (what `flowctl stream manifests -o yaml` prints, for kubectl and
 * GitOps tools). Strings that YAML would read as another type or that
 * hold special characters are double-quoted with JSON's escapes, which
 * YAML reads the same way.
 */
#ifndef FLOWCTL_YAML_H
#define FLOWCTL_YAML_H

#include <stdio.h>

#include <jansson.h>

/* Writes v (borrowed) to f as one YAML document, without the "---"
 * line. */
void yaml_emit(FILE *f, json_t *v);

#endif
