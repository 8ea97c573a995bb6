// The device-agnostic op API. Each op checks shapes, dtypes and devices (InvalidArgument naming
// the op and the shapes), then dispatches on the device once; kernels live in src/backend/<device>/.
#pragma once

#include "ops/activation.h"
#include "ops/attention.h"
#include "ops/elementwise.h"
#include "ops/linear.h"
#include "ops/mixing.h"
#include "ops/moe.h"
#include "ops/norm.h"
#include "ops/rotary.h"
#include "ops/sampling.h"
