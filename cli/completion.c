/*
 * `flowctl completion bash` and the hidden `flowctl __complete KIND [ARG]`
 * that the completion script (and the shell) ask for names the server
 * knows: streams, app labels, apps, counters.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "http.h"
#include "output.h"

/* Names of the items of a paged list. Returns new array. */
static json_t *list_names(struct ctl *c, const char *path, const char *field)
{
    json_t *doc, *items, *out = json_array();
    if (http_get_all(c, path, &doc, &items))
        return out;
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        const char *n = out_str(it, field, NULL);
        if (n)
            json_array_append_new(out, json_string(n));
    }
    json_decref(doc);
    return out;
}

json_t *ctl_complete_words(struct ctl *c, const char *kind, const char *arg)
{
    bool q = c->quiet;
    json_t *out = NULL;
    c->quiet = true;
    if (!strcmp(kind, "streams")) {
        out = list_names(c, "/streams/definitions", "name");
    } else if (!strcmp(kind, "labels") || !strcmp(kind, "taps")) {
        json_t *streams = !strcmp(kind, "taps")
                              ? list_names(c, "/streams/definitions", "name")
                              : json_pack("[s]", arg ? arg : "");
        out = json_array();
        size_t i;
        json_t *s;
        json_array_foreach(streams, i, s)
        {
            const char *name = json_string_value(s);
            char *e = http_escape(name);
            size_t n = strlen(e) + 32;
            char *p = malloc(n);
            snprintf(p, n, "/streams/definitions/%s", e);
            free(e);
            json_t *d;
            if (*name && !http_json_quiet(c, "GET", p, NULL, &d)) {
                if (!strcmp(kind, "taps"))
                    json_array_append_new(out, json_string(name));
                size_t k;
                json_t *a;
                json_array_foreach(json_object_get(d, "apps"), k, a)
                {
                    const char *l = out_str(a, "label", NULL);
                    if (!l)
                        continue;
                    if (!strcmp(kind, "taps")) {
                        char buf[256];
                        snprintf(buf, sizeof(buf), "%s.%s", name, l);
                        json_array_append_new(out, json_string(buf));
                    } else {
                        json_array_append_new(out, json_string(l));
                    }
                }
                json_decref(d);
            }
            free(p);
        }
        json_decref(streams);
    } else if (!strcmp(kind, "apps")) {
        out = list_names(c, "/apps", "name");
    } else if (!strcmp(kind, "counters")) {
        out = list_names(c, "/metrics/counters", "name");
    } else if (!strcmp(kind, "fvcs")) {
        out = list_names(c, "/metrics/field-value-counters", "name");
    } else {
        out = json_array();
    }
    c->quiet = q;
    return out;
}

int cmd_complete_hidden(struct ctl *c, int argc, char **argv)
{
    if (argc < 2)
        return CTL_EUSAGE;
    json_t *w = ctl_complete_words(c, argv[1], argc > 2 ? argv[2] : NULL);
    size_t i;
    json_t *s;
    json_array_foreach(w, i, s)
    {
        printf("%s\n", json_string_value(s));
    }
    json_decref(w);
    return CTL_OK;
}

static const char bash_script[] =
    "# bash completion for flowctl; load it with\n"
    "#   source <(flowctl completion bash)\n"
    "# or save it as /usr/share/bash-completion/completions/flowctl.\n"
    "\n"
    "_flowctl_words() {\n"
    "    # Names from the server, quietly; global options of the line "
    "apply.\n"
    "    flowctl \"${_flowctl_globals[@]}\" __complete \"$@\" 2>/dev/null\n"
    "}\n"
    "\n"
    "_flowctl() {\n"
    "    local cur=\"${COMP_WORDS[COMP_CWORD]}\"\n"
    "    local prev=\"\"\n"
    "    [ \"$COMP_CWORD\" -gt 0 ] && prev=\"${COMP_WORDS[COMP_CWORD-1]}\"\n"
    "    local -a args=()\n"
    "    _flowctl_globals=()\n"
    "    local i w skip=0\n"
    "    for ((i = 1; i < COMP_CWORD; i++)); do\n"
    "        w=\"${COMP_WORDS[i]}\"\n"
    "        if [ $skip = 1 ]; then skip=0; continue; fi\n"
    "        case \"$w\" in\n"
    "        --server|--token)\n"
    "            _flowctl_globals+=(\"$w\" \"${COMP_WORDS[i+1]}\"); "
    "skip=1 ;;\n"
    "        -o|--output|--color|--timeout|--description|--properties|"
    "--properties-file|-f|--file|--type|--uri|--resolution|--last|-n|"
    "--search|--bytes|--interval)\n"
    "            skip=1 ;;\n"
    "        --server=*|--token=*) _flowctl_globals+=(\"$w\") ;;\n"
    "        -*) ;;\n"
    "        *) args+=(\"$w\") ;;\n"
    "        esac\n"
    "    done\n"
    "    case \"$prev\" in\n"
    "    -o|--output) COMPREPLY=($(compgen -W \"table json\" -- \"$cur\")); "
    "return ;;\n"
    "    --color) COMPREPLY=($(compgen -W \"auto always never\" -- "
    "\"$cur\")); return ;;\n"
    "    --type) COMPREPLY=($(compgen -W \"source processor sink\" -- "
    "\"$cur\")); return ;;\n"
    "    --resolution) COMPREPLY=($(compgen -W \"second minute hour day "
    "month year\" -- \"$cur\")); return ;;\n"
    "    -f|--file|--properties-file|--uri) COMPREPLY=($(compgen -f -- "
    "\"$cur\")); return ;;\n"
    "    --server|--token|--timeout|--description|--properties|--last|-n|"
    "--search|--bytes|--interval) return ;;\n"
    "    esac\n"
    "    local cmd=\"${args[0]}\" n=${#args[@]}\n"
    "    if [ $n = 0 ]; then\n"
    "        if [[ \"$cur\" == -* ]]; then\n"
    "            COMPREPLY=($(compgen -W \"--server --token --output "
    "--color --no-wait --timeout --help\" -- \"$cur\"))\n"
    "        else\n"
    "            COMPREPLY=($(compgen -W \"@COMMANDS@\" -- \"$cur\"))\n"
    "        fi\n"
    "        return\n"
    "    fi\n"
    "    local opts=\"\" words=\"\"\n"
    "    case \"$cmd\" in\n"
    "    stream)\n"
    "        if [ $n = 1 ]; then words=\"create list info destroy "
    "manifests\"\n"
    "        else\n"
    "            case \"${args[1]}\" in\n"
    "            info|show|destroy|delete|manifests) [ $n = 2 ] && "
    "words=$(_flowctl_words streams)\n"
    "                [ \"${args[1]}\" = manifests ] && opts=\"--properties "
    "--properties-file --namespace --image\" ;;\n"
    "            create) opts=\"--description --deploy\" ;;\n"
    "            list|ls) opts=\"--search\" ;;\n"
    "            esac\n"
    "        fi ;;\n"
    "    deploy) opts=\"--properties --properties-file\"\n"
    "        [ $n = 1 ] && words=$(_flowctl_words streams) ;;\n"
    "    undeploy|status|top) [ $n = 1 ] && words=$(_flowctl_words streams) "
    ";;\n"
    "    scale|logs)\n"
    "        [ \"$cmd\" = logs ] && opts=\"--follow -f --bytes\"\n"
    "        if [ $n = 1 ]; then words=$(_flowctl_words streams)\n"
    "        elif [ $n = 2 ]; then words=$(_flowctl_words labels "
    "\"${args[1]}\"); fi ;;\n"
    "    tap) opts=\"-n\"; [ $n = 1 ] && words=$(_flowctl_words taps) ;;\n"
    "    apply) opts=\"--file -f --deploy\"; COMPREPLY=($(compgen -f -- "
    "\"$cur\")) ;;\n"
    "    validate) COMPREPLY=($(compgen -f -- \"$cur\")) ;;\n"
    "    apps) opts=\"--type\" ;;\n"
    "    app)\n"
    "        if [ $n = 1 ]; then words=\"info register unregister\"\n"
    "        elif [ \"${args[1]}\" = info ] && [ $n = 2 ]; then "
    "words=$(_flowctl_words apps)\n"
    "        else opts=\"--type --uri --force\"; fi ;;\n"
    "    function)\n"
    "        if [ $n = 1 ]; then words=\"list info register unregister\"\n"
    "        else opts=\"--library --force\"; fi ;;\n"
    "    counter) opts=\"--resolution --last --chart --no-chart\"\n"
    "        [ $n = 1 ] && words=$(_flowctl_words counters) ;;\n"
    "    field-value-counter) [ $n = 1 ] && words=$(_flowctl_words fvcs) "
    ";;\n"
    "    completion) [ $n = 1 ] && words=\"bash\" ;;\n"
    "    help) [ $n = 1 ] && words=\"@COMMANDS@\" ;;\n"
    "    version) opts=\"--client\" ;;\n"
    "    esac\n"
    "    if [[ \"$cur\" == -* ]]; then\n"
    "        COMPREPLY+=($(compgen -W \"$opts --help\" -- \"$cur\"))\n"
    "    elif [ -n \"$words\" ]; then\n"
    "        COMPREPLY+=($(compgen -W \"$words\" -- \"$cur\"))\n"
    "    fi\n"
    "}\n"
    "complete -F _flowctl flowctl\n";

int cmd_completion(struct ctl *c, int argc, char **argv)
{
    (void)c;
    if (argc >= 2 && ctl_is_help(argv[1]))
        return ctl_help("usage: flowctl completion bash\n"
                        "\n"
                        "Prints a bash completion script: commands, options, "
                        "and the\n"
                        "names of streams, apps and counters asked of the "
                        "server.\n"
                        "\n"
                        "Examples:\n"
                        "  source <(flowctl completion bash)\n"
                        "  flowctl completion bash > "
                        "~/.local/share/bash-completion/completions/"
                        "flowctl\n");
    if (argc != 2)
        return ctl_usage_error("completion needs a shell: 'flowctl "
                               "completion bash'");
    if (strcmp(argv[1], "bash"))
        return ctl_usage_error("no completion for '%s' yet; only bash",
                               argv[1]);
    char cmds[1024] = "";
    for (size_t i = 0; ctl_command_names[i]; i++) {
        if (i)
            strcat(cmds, " ");
        strcat(cmds, ctl_command_names[i]);
    }
    /* Substitute @COMMANDS@ as the script is written out. */
    const char *p = bash_script;
    const char *tag = "@COMMANDS@";
    for (;;) {
        const char *hit = strstr(p, tag);
        if (!hit) {
            fputs(p, stdout);
            break;
        }
        fwrite(p, 1, (size_t)(hit - p), stdout);
        fputs(cmds, stdout);
        p = hit + strlen(tag);
    }
    return CTL_OK;
}
