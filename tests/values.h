/* SPDX-License-Identifier: MIT */
/*
 * values.h — tests read and write one element of any haloccl datatype as a
 * double (through the library's own conversions for the 16- and 8-bit floats).
 */
#ifndef HALO_TEST_VALUES_H
#define HALO_TEST_VALUES_H

#include <math.h>
#include <stdint.h>

#include "haloccl.h"
#include "reduce.h"

static inline double get_val(const void *buf, size_t i, haloDataType_t t)
{
    switch (t) {
    case haloInt8: return ((const int8_t *)buf)[i];
    case haloUint8: return ((const uint8_t *)buf)[i];
    case haloInt32: return ((const int32_t *)buf)[i];
    case haloUint32: return ((const uint32_t *)buf)[i];
    case haloInt64: return (double)((const int64_t *)buf)[i];
    case haloUint64: return (double)((const uint64_t *)buf)[i];
    case haloFloat16: return halo_f16_to_f32(((const uint16_t *)buf)[i]);
    case haloBfloat16: return halo_bf16_to_f32(((const uint16_t *)buf)[i]);
    case haloFloat32: return ((const float *)buf)[i];
    case haloFloat64: return ((const double *)buf)[i];
    case haloFloat8e4m3: return halo_e4m3_to_f32(((const uint8_t *)buf)[i]);
    case haloFloat8e5m2: return halo_e5m2_to_f32(((const uint8_t *)buf)[i]);
    default: return NAN;
    }
}

/* Integers wrap like the library's (two's complement, modulo the width). */
static inline void set_val(void *buf, size_t i, haloDataType_t t, double v)
{
    int64_t iv = (int64_t)v;
    switch (t) {
    case haloInt8: ((int8_t *)buf)[i] = (int8_t)(uint8_t)iv; break;
    case haloUint8: ((uint8_t *)buf)[i] = (uint8_t)iv; break;
    case haloInt32: ((int32_t *)buf)[i] = (int32_t)(uint32_t)iv; break;
    case haloUint32: ((uint32_t *)buf)[i] = (uint32_t)iv; break;
    case haloInt64: ((int64_t *)buf)[i] = iv; break;
    case haloUint64: ((uint64_t *)buf)[i] = (uint64_t)iv; break;
    case haloFloat16: ((uint16_t *)buf)[i] = halo_f32_to_f16((float)v); break;
    case haloBfloat16: ((uint16_t *)buf)[i] = halo_f32_to_bf16((float)v); break;
    case haloFloat32: ((float *)buf)[i] = (float)v; break;
    case haloFloat64: ((double *)buf)[i] = v; break;
    case haloFloat8e4m3: ((uint8_t *)buf)[i] = halo_f32_to_e4m3((float)v); break;
    case haloFloat8e5m2: ((uint8_t *)buf)[i] = halo_f32_to_e5m2((float)v); break;
    default: break;
    }
}

#endif
