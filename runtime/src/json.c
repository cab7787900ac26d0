/* JSON string output for --describe, --flow.metrics-json and logs: the
 * one JSON string writer (flow/mpjson.h). */
#include "ctx.h"

#include "flow/mpjson.h"

void flow__json_str(FILE *f, const char *s, size_t len)
{
    flow_json_fputs(f, s, len);
}
