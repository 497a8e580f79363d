/* elementwise.cu: pointwise kernels (add, mul, scale, modulate, gated add,
 * activations, the matmul bias/GELU epilogue), casts and the strided copy.
 *
 * Every kernel is a grid-stride loop over int64 indices (tensors can pass 2^31
 * elements), reads its element(s) before writing its own output element, and so
 * may run in place. Arithmetic is fp32 in the same order as the CPU backend.
 * First versions: correct and simple; vectorised loads come later.
 */
#include "common.cuh"

#define EW_THREADS 256

enum { EW_ADD = 0, EW_MUL = 1 };
enum { UN_SILU = 0, UN_GELU_TANH = 1, UN_GELU_ERF = 2 };

/* 0.5x(1 + tanh(u)) written as x / (1 + exp(-2u)), as the CPU oracle does: no
 * cancellation of 1 + tanh(u) in the negative tail. */
__device__ __forceinline__ float gelu_tanh_f(float x) {
    const float k = 0.7978845608028654f; /* sqrt(2/pi) */
    float u = k * (x + 0.044715f * x * x * x);
    return x / (1.0f + expf(-2.0f * u));
}

__global__ void binary_kernel(void *y, int ydt, const void *a, int adt, const void *b, int bdt, int64_t n,
                              int64_t bn, int kind) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        float av = ldf(a, adt, i), bv = ldf(b, bdt, i % bn);
        stf(y, ydt, i, kind == EW_ADD ? av + bv : av * bv);
    }
}

__global__ void scale_kernel(void *y, int ydt, const void *x, int xdt, float s, int64_t n) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        stf(y, ydt, i, ldf(x, xdt, i) * s);
}

__global__ void modulate_kernel(void *y, int ydt, const void *x, int xdt, const void *shift, int shdt,
                                const void *scale, int scdt, int64_t n, int64_t D) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        int64_t c = i % D;
        float v = ldf(x, xdt, i) * (1.0f + ldf(scale, scdt, c)) + ldf(shift, shdt, c);
        stf(y, ydt, i, v);
    }
}

__global__ void gated_add_kernel(void *x, int xdt, const void *y, int ydt, const void *gate, int gdt, int64_t n,
                                 int64_t D) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        float v = ldf(x, xdt, i) + ldf(y, ydt, i) * ldf(gate, gdt, i % D);
        stf(x, xdt, i, v);
    }
}

__global__ void unary_kernel(void *y, int ydt, const void *x, int xdt, int64_t n, int kind) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        float v = ldf(x, xdt, i), r;
        if (kind == UN_SILU) r = v / (1.0f + expf(-v));
        else if (kind == UN_GELU_TANH) r = gelu_tanh_f(v);
        else r = 0.5f * v * (1.0f + erff(v * 0.70710678118654752f));
        stf(y, ydt, i, r);
    }
}

__global__ void bias_act_kernel(void *y, int ydt, const void *b, int bdt, int64_t M, int64_t N, int act) {
    int64_t n = M * N;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        float v = ldf(y, ydt, i);
        if (b) v += ldf(b, bdt, i % N);
        if (act == 1) v = gelu_tanh_f(v);
        stf(y, ydt, i, v);
    }
}

/* ---------------------------------------------------------------- cast */

/* Float to integer as torch on x86: truncate; NaN and out-of-range give the minimum. */
__device__ __forceinline__ int32_t f32_to_i32(float f) {
    if (!(f > -2147483904.0f && f < 2147483648.0f)) return INT32_MIN;
    return (int32_t)f;
}
__device__ __forceinline__ int64_t f32_to_i64(float f) {
    if (!(f > -9223373136366403584.0f && f < 9223372036854775808.0f)) return INT64_MIN;
    return (int64_t)f;
}

__device__ __forceinline__ float load_any(const void *p, int dt, int64_t i) {
    switch (dt) {
    case KDT_F32: return ((const float *)p)[i];
    case KDT_F16: return f16_to_f32(((const uint16_t *)p)[i]);
    case KDT_BF16: return bf16_to_f32(((const uint16_t *)p)[i]);
    case KDT_F8_E4M3: return f8e4m3_to_f32(((const uint8_t *)p)[i]);
    case KDT_F8_E5M2: return f8e5m2_to_f32(((const uint8_t *)p)[i]);
    case KDT_I32: return (float)((const int32_t *)p)[i];
    case KDT_I64: return (float)((const int64_t *)p)[i];
    default: return 0.0f;
    }
}

__device__ __forceinline__ void store_any(void *p, int dt, int64_t i, float f) {
    switch (dt) {
    case KDT_F32: ((float *)p)[i] = f; break;
    case KDT_F16: ((uint16_t *)p)[i] = f32_to_f16(f); break;
    case KDT_BF16: ((uint16_t *)p)[i] = f32_to_bf16(f); break;
    case KDT_F8_E4M3: ((uint8_t *)p)[i] = f32_to_f8e4m3(f); break;
    case KDT_F8_E5M2: ((uint8_t *)p)[i] = f32_to_f8e5m2(f); break;
    case KDT_I32: ((int32_t *)p)[i] = f32_to_i32(f); break;
    case KDT_I64: ((int64_t *)p)[i] = f32_to_i64(f); break;
    default: break;
    }
}

/* Not in place (the element sizes may differ). As rl_convert: integer to integer
 * keeps the value (int64 -> int32 wraps); f16/f8 -> bf16 maps NaN to 0x7FC0 (torch's
 * scalar path); everything else goes through f32. */
__global__ void cast_kernel(void *y, int ydt, const void *x, int xdt, int64_t n) {
    int xint = xdt == KDT_I32 || xdt == KDT_I64, yint = ydt == KDT_I32 || ydt == KDT_I64;
    int scalar_bf16 = ydt == KDT_BF16 && (xdt == KDT_F16 || xdt == KDT_F8_E4M3 || xdt == KDT_F8_E5M2);
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        if (xint && yint) {
            int64_t v = xdt == KDT_I32 ? (int64_t)((const int32_t *)x)[i] : ((const int64_t *)x)[i];
            if (ydt == KDT_I32) ((int32_t *)y)[i] = (int32_t)(uint32_t)(uint64_t)v;
            else ((int64_t *)y)[i] = v;
        } else if (scalar_bf16) {
            float f = load_any(x, xdt, i);
            ((uint16_t *)y)[i] = isnan(f) ? (uint16_t)0x7FC0 : f32_to_bf16(f);
        } else {
            store_any(y, ydt, i, load_any(x, xdt, i));
        }
    }
}

/* ---------------------------------------------------------------- embedding */

/* One element per thread; the conversion is cast_kernel's for a float source. */
__global__ void embedding_kernel(void *y, int ydt, const void *table, int tdt, const int32_t *ids, int64_t N,
                                 int64_t V, int64_t D) {
    int scalar_bf16 = ydt == KDT_BF16 && (tdt == KDT_F16 || tdt == KDT_F8_E4M3 || tdt == KDT_F8_E5M2);
    int64_t n = N * D;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        int64_t row = ids[i / D], col = i % D;
        float f = row >= 0 && row < V ? load_any(table, tdt, row * D + col) : 0.0f;
        if (ydt == tdt && row >= 0 && row < V) { /* same dtype: the bits, as rl_convert's memmove */
            size_t es = tdt == KDT_F32 ? 4 : (tdt == KDT_F16 || tdt == KDT_BF16 ? 2 : 1);
            const uint8_t *src = (const uint8_t *)table + (size_t)(row * D + col) * es;
            uint8_t *dst = (uint8_t *)y + (size_t)i * es;
            for (size_t b = 0; b < es; b++) dst[b] = src[b];
        } else if (scalar_bf16) {
            ((uint16_t *)y)[i] = isnan(f) ? (uint16_t)0x7FC0 : f32_to_bf16(f);
        } else {
            store_any(y, ydt, i, f);
        }
    }
}

/* ---------------------------------------------------------------- strided copy */

typedef struct {
    int ndim;
    int64_t shape[5], ys[5], xs[5]; /* strides in elements */
} copy_geom;

/* The x and y offsets of index i over dims [0, ndim) of g (row-major order). */
__device__ __forceinline__ void copy_offsets(const copy_geom &g, int ndim, int64_t i, int64_t *xo, int64_t *yo) {
    *xo = 0, *yo = 0;
    for (int d = ndim - 1; d >= 0; d--) {
        int64_t idx = i % g.shape[d];
        i /= g.shape[d];
        *xo += idx * g.xs[d];
        *yo += idx * g.ys[d];
    }
}

template <typename T>
__global__ void copy_strided_kernel(T *y, const T *x, copy_geom g, int64_t n) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        int64_t xo, yo;
        copy_offsets(g, g.ndim, i, &xo, &yo);
        y[yo] = x[xo];
    }
}

/* Rows of `inner` contiguous elements (both sides); the row's offsets from its
 * index over the outer dims, divided once per row, not per element. */
template <typename T>
__global__ void copy_rows_kernel(T *y, const T *x, copy_geom g, int64_t rows, int64_t inner) {
    for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
        int64_t xo, yo;
        copy_offsets(g, g.ndim - 1, r, &xo, &yo);
        for (int64_t j = threadIdx.x; j < inner; j += blockDim.x) y[yo + j] = x[xo + j];
    }
}

/* ---------------------------------------------------------------- launchers */

extern "C" int cuda_add(void *stream, void *y, int ydt, const void *a, int adt, const void *b, int bdt, int64_t n,
                        int64_t bn) {
    if (n <= 0) return 0;
    binary_kernel<<<grid_for(n, EW_THREADS), EW_THREADS, 0, (cudaStream_t)stream>>>(y, ydt, a, adt, b, bdt, n, bn,
                                                                                   EW_ADD);
    return launch_status();
}

extern "C" int cuda_mul(void *stream, void *y, int ydt, const void *a, int adt, const void *b, int bdt, int64_t n,
                        int64_t bn) {
    if (n <= 0) return 0;
    binary_kernel<<<grid_for(n, EW_THREADS), EW_THREADS, 0, (cudaStream_t)stream>>>(y, ydt, a, adt, b, bdt, n, bn,
                                                                                   EW_MUL);
    return launch_status();
}

extern "C" int cuda_scale(void *stream, void *y, int ydt, const void *x, int xdt, float s, int64_t n) {
    if (n <= 0) return 0;
    scale_kernel<<<grid_for(n, EW_THREADS), EW_THREADS, 0, (cudaStream_t)stream>>>(y, ydt, x, xdt, s, n);
    return launch_status();
}

extern "C" int cuda_modulate(void *stream, void *y, int ydt, const void *x, int xdt, const void *shift, int shdt,
                             const void *scale, int scdt, int64_t n, int64_t D) {
    if (n <= 0) return 0;
    modulate_kernel<<<grid_for(n, EW_THREADS), EW_THREADS, 0, (cudaStream_t)stream>>>(y, ydt, x, xdt, shift, shdt,
                                                                                     scale, scdt, n, D);
    return launch_status();
}

extern "C" int cuda_gated_add(void *stream, void *x, int xdt, const void *y, int ydt, const void *gate, int gdt,
                              int64_t n, int64_t D) {
    if (n <= 0) return 0;
    gated_add_kernel<<<grid_for(n, EW_THREADS), EW_THREADS, 0, (cudaStream_t)stream>>>(x, xdt, y, ydt, gate, gdt, n,
                                                                                      D);
    return launch_status();
}

static int launch_unary(void *stream, void *y, int ydt, const void *x, int xdt, int64_t n, int kind) {
    if (n <= 0) return 0;
    unary_kernel<<<grid_for(n, EW_THREADS), EW_THREADS, 0, (cudaStream_t)stream>>>(y, ydt, x, xdt, n, kind);
    return launch_status();
}
extern "C" int cuda_silu(void *stream, void *y, int ydt, const void *x, int xdt, int64_t n) {
    return launch_unary(stream, y, ydt, x, xdt, n, UN_SILU);
}
extern "C" int cuda_gelu_tanh(void *stream, void *y, int ydt, const void *x, int xdt, int64_t n) {
    return launch_unary(stream, y, ydt, x, xdt, n, UN_GELU_TANH);
}
extern "C" int cuda_gelu_erf(void *stream, void *y, int ydt, const void *x, int xdt, int64_t n) {
    return launch_unary(stream, y, ydt, x, xdt, n, UN_GELU_ERF);
}

extern "C" int cuda_bias_act(void *stream, void *y, int ydt, const void *b, int bdt, int64_t M, int64_t N, int act) {
    if (M <= 0 || N <= 0 || (!b && act == 0)) return 0;
    bias_act_kernel<<<grid_for(M * N, EW_THREADS), EW_THREADS, 0, (cudaStream_t)stream>>>(y, ydt, b, bdt, M, N, act);
    return launch_status();
}

extern "C" int cuda_cast(void *stream, void *y, int ydt, const void *x, int xdt, int64_t n) {
    if (n <= 0) return 0;
    cast_kernel<<<grid_for(n, EW_THREADS), EW_THREADS, 0, (cudaStream_t)stream>>>(y, ydt, x, xdt, n);
    return launch_status();
}

extern "C" int cuda_embedding(void *stream, void *y, int ydt, const void *table, int tdt, const int32_t *ids, int64_t N,
                              int64_t V, int64_t D) {
    if (N <= 0 || D <= 0) return 0;
    embedding_kernel<<<grid_for(N * D, EW_THREADS), EW_THREADS, 0, (cudaStream_t)stream>>>(y, ydt, table, tdt, ids, N,
                                                                                          V, D);
    return launch_status();
}

extern "C" int cuda_copy_strided(void *stream, void *y, const void *x, int elem_size, int ndim, const int64_t *shape,
                                 const int64_t *y_stride, const int64_t *x_stride) {
    if (ndim < 0 || ndim > 5) return (int)cudaErrorInvalidValue;
    /* Drop size-1 dims and merge a dim into the next where both sides step
     * through them as one (a contiguous slab is then one dim). */
    copy_geom g = {};
    int64_t n = 1;
    for (int d = 0; d < ndim; d++) {
        n *= shape[d];
        if (shape[d] == 1) continue;
        if (g.ndim > 0 && g.ys[g.ndim - 1] == y_stride[d] * shape[d] && g.xs[g.ndim - 1] == x_stride[d] * shape[d]) {
            g.shape[g.ndim - 1] *= shape[d];
            g.ys[g.ndim - 1] = y_stride[d], g.xs[g.ndim - 1] = x_stride[d];
            continue;
        }
        g.shape[g.ndim] = shape[d], g.ys[g.ndim] = y_stride[d], g.xs[g.ndim] = x_stride[d];
        g.ndim++;
    }
    if (n <= 0) return 0;
    cudaStream_t s = (cudaStream_t)stream;
    if (g.ndim == 0 || (g.ndim == 1 && g.ys[0] == 1 && g.xs[0] == 1)) /* one contiguous run */
        return (int)cudaMemcpyAsync(y, x, (size_t)n * (size_t)elem_size, cudaMemcpyDeviceToDevice, s);
    const int64_t inner = g.shape[g.ndim - 1];
    if (g.ys[g.ndim - 1] == 1 && g.xs[g.ndim - 1] == 1 && inner >= 32) {
        const int64_t rows = n / inner;
        const unsigned grid = (unsigned)(rows < (1 << 20) ? rows : (1 << 20));
        switch (elem_size) {
        case 1: copy_rows_kernel<uint8_t><<<grid, EW_THREADS, 0, s>>>((uint8_t *)y, (const uint8_t *)x, g, rows, inner); break;
        case 2: copy_rows_kernel<uint16_t><<<grid, EW_THREADS, 0, s>>>((uint16_t *)y, (const uint16_t *)x, g, rows, inner); break;
        case 4: copy_rows_kernel<uint32_t><<<grid, EW_THREADS, 0, s>>>((uint32_t *)y, (const uint32_t *)x, g, rows, inner); break;
        case 8: copy_rows_kernel<uint64_t><<<grid, EW_THREADS, 0, s>>>((uint64_t *)y, (const uint64_t *)x, g, rows, inner); break;
        default: return (int)cudaErrorInvalidValue;
        }
        return launch_status();
    }
    unsigned grid = grid_for(n, EW_THREADS);
    switch (elem_size) {
    case 1: copy_strided_kernel<uint8_t><<<grid, EW_THREADS, 0, s>>>((uint8_t *)y, (const uint8_t *)x, g, n); break;
    case 2: copy_strided_kernel<uint16_t><<<grid, EW_THREADS, 0, s>>>((uint16_t *)y, (const uint16_t *)x, g, n); break;
    case 4: copy_strided_kernel<uint32_t><<<grid, EW_THREADS, 0, s>>>((uint32_t *)y, (const uint32_t *)x, g, n); break;
    case 8: copy_strided_kernel<uint64_t><<<grid, EW_THREADS, 0, s>>>((uint64_t *)y, (const uint64_t *)x, g, n); break;
    default: return (int)cudaErrorInvalidValue;
    }
    return launch_status();
}
