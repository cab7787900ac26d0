/* Tiny apps for the runtime's tests: a generator, a pass-through and a
 * checking sink. */
#ifndef FLOW_TESTS_RUNTIME_APPS_H
#define FLOW_TESTS_RUNTIME_APPS_H

#include "flow/app.h"

extern const flow_app_desc test_gen_app;
extern const flow_app_desc test_pass_app;
extern const flow_app_desc test_sink_app;

#endif
