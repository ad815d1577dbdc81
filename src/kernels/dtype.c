/* SPDX-License-Identifier: MIT */
/*
 * dtype.c — facts about datatypes and reduction ops (element size, printable names),
 * kept apart from the kernels so that code which only validates or logs a call does
 * not need them.
 */
#include "reduce.h"

static const struct {
    const char *name;
    size_t size;
} dtype_info[haloNumTypes] = {
    [haloInt8] = {"int8", 1},          [haloUint8] = {"uint8", 1},
    [haloInt32] = {"int32", 4},        [haloUint32] = {"uint32", 4},
    [haloInt64] = {"int64", 8},        [haloUint64] = {"uint64", 8},
    [haloFloat16] = {"float16", 2},    [haloFloat32] = {"float32", 4},
    [haloFloat64] = {"float64", 8},    [haloBfloat16] = {"bfloat16", 2},
    [haloFloat8e4m3] = {"float8e4m3", 1}, [haloFloat8e5m2] = {"float8e5m2", 1},
};

static const char *const op_names[haloNumOps] = {
    [haloSum] = "sum", [haloProd] = "prod", [haloMax] = "max",
    [haloMin] = "min", [haloAvg] = "avg",
};

size_t halo_dtype_size(haloDataType_t t)
{
    return (unsigned)t < haloNumTypes ? dtype_info[t].size : 0;
}

const char *halo_dtype_name(haloDataType_t t)
{
    return (unsigned)t < haloNumTypes ? dtype_info[t].name : "invalid";
}

const char *halo_op_name(haloRedOp_t op)
{
    return (unsigned)op < haloNumOps ? op_names[op] : "invalid";
}
