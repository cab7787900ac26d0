/*
 * Block-style YAML from JSON (yaml.h).
 */
#include <ctype.h>
#include <stdlib.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "yaml.h"

/* Can s be written without quotes and be read back as the same string?
 * Only a conservative set: letters, digits and _ . / - (not first), never
 * a word YAML 1.1 reads as a boolean or null, never a number. */
static bool plain_ok(const char *s)
{
    static const char *const words[] = { "true", "false", "null", "yes", "no",
                                         "on",   "off",   "y",    "n",   "~" };

    if (!s[0] || !(isalpha((unsigned char)s[0]) || s[0] == '_' || s[0] == '/'))
        return false;
    for (const char *p = s; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("_./-", *p))
            return false;
    for (size_t k = 0; k < sizeof words / sizeof words[0]; k++)
        if (!strcasecmp(s, words[k]))
            return false;
    return true;
}

static void scalar(FILE *f, json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_STRING:
        if (plain_ok(json_string_value(v))) {
            fputs(json_string_value(v), f);
        } else {
            char *q = json_dumps(v, JSON_ENCODE_ANY);
            fputs(q ? q : "\"\"", f);
            free(q);
        }
        break;
    case JSON_INTEGER:
        fprintf(f, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        break;
    case JSON_REAL:
        fprintf(f, "%.17g", json_real_value(v));
        break;
    case JSON_TRUE:
        fputs("true", f);
        break;
    case JSON_FALSE:
        fputs("false", f);
        break;
    case JSON_OBJECT:
        fputs("{}", f);
        break;
    case JSON_ARRAY:
        fputs("[]", f);
        break;
    default:
        fputs("null", f);
        break;
    }
}

/* Is v written on one line (a scalar, or an empty map or list)? */
static bool inline_node(json_t *v)
{
    return (!json_is_object(v) || json_object_size(v) == 0) &&
           (!json_is_array(v) || json_array_size(v) == 0);
}

static void seq(FILE *f, json_t *a, int ind);

/* The pairs of o at indentation ind; the first one's indentation is
 * already written when first_inline (after a list's "- "). */
static void map(FILE *f, json_t *o, int ind, bool first_inline)
{
    const char *k;
    json_t *v;
    bool first = true;

    json_object_foreach(o, k, v)
    {
        if (!(first && first_inline))
            fprintf(f, "%*s", ind, "");
        first = false;
        json_t *key = json_string(k);
        scalar(f, key);
        json_decref(key);
        fputc(':', f);
        if (inline_node(v)) {
            fputc(' ', f);
            scalar(f, v);
            fputc('\n', f);
        } else if (json_is_object(v)) {
            fputc('\n', f);
            map(f, v, ind + 2, false);
        } else {
            fputc('\n', f);
            seq(f, v, ind + 2);
        }
    }
}

static void seq(FILE *f, json_t *a, int ind)
{
    size_t i;
    json_t *v;

    json_array_foreach(a, i, v)
    {
        fprintf(f, "%*s- ", ind, "");
        if (inline_node(v)) {
            scalar(f, v);
            fputc('\n', f);
        } else if (json_is_object(v)) {
            map(f, v, ind + 2, true);
        } else {
            fputc('\n', f);
            seq(f, v, ind + 2);
        }
    }
}

void yaml_emit(FILE *f, json_t *v)
{
    if (json_is_object(v) && json_object_size(v) > 0) {
        map(f, v, 0, false);
    } else if (json_is_array(v) && json_array_size(v) > 0) {
        seq(f, v, 0);
    } else {
        scalar(f, v);
        fputc('\n', f);
    }
}
