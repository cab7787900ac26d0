/* flow: everything an app or a tool needs from libflow. */
#ifndef FLOW_FLOW_H
#define FLOW_FLOW_H

#include "flow/app.h"
#include "flow/bucket.h"
#include "flow/control.h"
#include "flow/endpoint.h"
#include "flow/error.h"
#include "flow/event.h"
#include "flow/host.h"
#include "flow/iso8601.h"
#include "flow/metrics.h"
#include "flow/mp.h"
#include "flow/wire.h"
#include "flow/zwatch.h"

#endif
