/* conv3d_igemm.cu: stride-1 conv3d as an implicit GEMM on TF32 tensor cores, for f32
 * x [Cin, T, H, W] * w [Cout, Cin, kt, kh, kw] (+ b) -> y [Cout, To, Ho, Wo] (f32 or
 * bf16), kh = kw = 1 or 3, front zero padding per axis (positions past the input read
 * zeros, so any back padding is implied by the output size).
 *
 * The product is M = Cout (rows) x N = output positions x K = Cin*kt*kh*kw. No padded
 * copy and no column matrix: a CTA owns BM output channels x one tile of 8 rows x 16
 * columns of one output frame, and walks K in stages of (one time tap dt, 8 input
 * channels). A stage brings into shared memory the input patch those positions read,
 * 8 channels x (8 + kh - 1) rows x (16 + kw - 1) columns of frame to + dt - pad_t
 * (4-byte cp.async, zero-filled outside the input), and the weights of its 8 channels
 * for all kh*kw spatial taps. Each spatial tap (dh, dw) is then one k8 step over the
 * same patch shifted by (dh, dw): the input is read once from memory and reused
 * kh*kw times from shared memory. Two stage buffers: the next stage's copies land
 * while this one computes.
 *
 * mma.sync.m16n8k8 TF32 (fp32 accumulators): A = weights (16 channels x 8 input
 * channels), B = input (8 input channels x 8 positions of one row). Operands are
 * rounded to TF32 (cvt.rna, as cuBLAS's and cuDNN's TF32 paths): the weights once, by
 * conv3d_igemm_weights into wt [kt][Cin][kh*kw][Cout] (so a stage's weights are
 * contiguous runs of output channels), the input patch in shared memory once it has
 * landed (each thread its own copies).
 * 8 warps: 2 along channels (MT m16 tiles each: BM = 32 MT) x 4 along positions (2 rows
 * of 16 = 4 n8 tiles each). Shared-memory strides make every fragment load free of
 * bank conflicts: channel rows of the weights BM + 8 floats apart (and kh*kw*(BM + 8)
 * = 8 mod 32), input channels 184 floats apart (= 24 mod 32).
 * The input may come in two pieces along t (a causal conv's cached frames, then x:
 * cuda_conv3d_args.xp), read where they lie instead of concatenated.
 * Needs Cin % 8 == 0 (Cout is padded to a multiple of 4 in wt); the backend falls
 * back to its tap GEMMs otherwise, and when TF32 is off (RAYLIGHT_TF32=0).
 */
#include "common.cuh"

#define IG_THREADS 256
#define IG_CK 8    /* input channels per stage: one k8 step per spatial tap */
#define IG_RH 8    /* output rows per CTA */
#define IG_RW 16   /* output columns per CTA */
#define IG_XRS 18  /* patch row stride (>= 16 + kw - 1) */
#define IG_PS 184  /* patch channel stride (>= 10 * 18; 24 mod 32) */

__device__ __forceinline__ uint32_t ig_tf32(float f) {
    uint32_t r;
    asm("cvt.rna.tf32.f32 %0, %1;\n" : "=r"(r) : "f"(f));
    return r;
}

__device__ __forceinline__ void ig_cp4(uint32_t dst, const void *src, bool valid) {
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(dst), "l"(src), "r"(valid ? 4 : 0) : "memory");
}
__device__ __forceinline__ void ig_cp16(uint32_t dst, const void *src, bool valid) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(valid ? 16 : 0)
                 : "memory");
}

__device__ __forceinline__ void ig_mma(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    asm volatile("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
                 "{%0, %1, %2, %3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

/* wt [kt][Cin][kh*kw][Coutp] = tf32(w [Cout][Cin][kt][kh][kw]), zeros for the
 * channels Cout..Coutp-1 (Coutp = Cout rounded up to 4: 16-byte rows). */
__global__ void conv3d_igemm_weights_kernel(float *wt, const void *w, int wdt, int64_t Cout, int64_t Coutp,
                                            int64_t Cin, int64_t kt, int64_t khw) {
    const int64_t n = Coutp * Cin * kt * khw;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        int64_t r = i; /* i walks w [co][ci][dt][tap], co < Coutp */
        const int64_t tap = r % khw; r /= khw;
        const int64_t dt = r % kt; r /= kt;
        const int64_t ci = r % Cin, co = r / Cin;
        float v = co < Cout ? ldf(w, wdt, ((co * Cin + ci) * kt + dt) * khw + tap) : 0.0f;
        wt[((dt * Cin + ci) * khw + tap) * Coutp + co] = __uint_as_float(ig_tf32(v));
    }
}

template <int KH, int KW, int MT>
__global__ void __launch_bounds__(IG_THREADS, 2) conv3d_igemm_kernel(cuda_conv3d_args a, const float *wt) {
    constexpr int BM = 32 * MT, BMP = BM + 8, KHW = KH * KW;
    constexpr int PH = IG_RH + KH - 1, PW = IG_RW + KW - 1;
    constexpr int XS = IG_CK * IG_PS, WS = IG_CK * KHW * BMP; /* floats per stage buffer */
    static_assert(PW <= IG_XRS && PH * IG_XRS <= IG_PS, "the patch must fit its strides");
    extern __shared__ __align__(16) float ig_smem[];
    float *xs = ig_smem, *ws = ig_smem + 2 * XS; /* [2][XS], [2][WS] */
    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, g = lane >> 2, t = lane & 3;
    const int wm = warp >> 2, wn = warp & 3;
    const int64_t tilesW = (a.Wo + IG_RW - 1) / IG_RW;
    const int64_t ho0 = (int64_t)(blockIdx.x / tilesW) * IG_RH, wo0 = (int64_t)(blockIdx.x % tilesW) * IG_RW;
    const int64_t to = blockIdx.y, co0 = (int64_t)blockIdx.z * BM;
    const int64_t HW = a.H * a.W, THW = a.T * HW;
    const float *x = (const float *)a.x;
    const int nci = (int)(a.Cin / IG_CK), nstages = (int)a.kt * nci;

    auto load_stage = [&](int s, int buf) {
        const int dt = s / nci;
        const int64_t ci0 = (int64_t)(s % nci) * IG_CK;
        const int64_t ti = to + dt - a.pad[0];
        const bool tin = ti >= 0 && ti < a.Tp + a.T;
        /* frame ti: a prefix frame, or frame ti - Tp of x */
        const bool pre = ti < a.Tp;
        const float *fb = pre ? (const float *)a.xp + ti * HW : x + (ti - a.Tp) * HW;
        const int64_t cs = pre ? a.xp_cstride : THW;
        const uint32_t xdst = (uint32_t)__cvta_generic_to_shared(xs + buf * XS);
        for (int e = tid; e < IG_CK * PH * PW; e += IG_THREADS) {
            const int c = e / (PH * PW), r = e % (PH * PW), ph = r / PW, pw = r % PW;
            const int64_t hi = ho0 + ph - a.pad[1], wi = wo0 + pw - a.pad[2];
            const bool ok = tin && hi >= 0 && hi < a.H && wi >= 0 && wi < a.W;
            const float *src = ok ? fb + (ci0 + c) * cs + hi * a.W + wi : x;
            ig_cp4(xdst + 4u * (uint32_t)(c * IG_PS + ph * IG_XRS + pw), src, ok);
        }
        const uint32_t wdst = (uint32_t)__cvta_generic_to_shared(ws + buf * WS);
        const int64_t Coutp = (a.Cout + 3) & ~(int64_t)3;
        const float *wsrc = wt + ((int64_t)dt * a.Cin + ci0) * KHW * Coutp + co0;
        for (int e = tid; e < IG_CK * KHW * (BM / 4); e += IG_THREADS) {
            const int row = e / (BM / 4), q = e % (BM / 4); /* row = ci * KHW + tap */
            const bool ok = co0 + 4 * q < Coutp;
            ig_cp16(wdst + 4u * (uint32_t)(row * BMP + 4 * q), ok ? wsrc + (int64_t)row * Coutp + 4 * q : wt, ok);
        }
        asm volatile("cp.async.commit_group;\n" ::: "memory");
    };

    float acc[MT][4][4];
#pragma unroll
    for (int i = 0; i < MT; i++)
#pragma unroll
        for (int j = 0; j < 4; j++)
#pragma unroll
            for (int e = 0; e < 4; e++) acc[i][j][e] = 0.0f;

    load_stage(0, 0);
    for (int s = 0; s < nstages; s++) {
        const int buf = s & 1;
        if (s + 1 < nstages) {
            load_stage(s + 1, buf ^ 1);
            asm volatile("cp.async.wait_group 1;\n" ::: "memory");
        } else {
            asm volatile("cp.async.wait_group 0;\n" ::: "memory");
        }
        /* this thread's patch elements to TF32 in place (each is then read by up to 9
         * taps x 2 warps): the barrier below orders them before every read */
        for (int e = tid; e < IG_CK * PH * PW; e += IG_THREADS) {
            const int c = e / (PH * PW), r = e % (PH * PW);
            float *v = xs + buf * XS + c * IG_PS + (r / PW) * IG_XRS + r % PW;
            *v = __uint_as_float(ig_tf32(*v));
        }
        __syncthreads();
        const float *xb = xs + buf * XS, *wb = ws + buf * WS + wm * (16 * MT);
#pragma unroll
        for (int tap = 0; tap < KHW; tap++) {
            const int dh = tap / KW, dw = tap % KW;
            uint32_t af[MT][4];
#pragma unroll
            for (int mt = 0; mt < MT; mt++) {
                const float *w0 = wb + (t * KHW + tap) * BMP + mt * 16 + g, *w1 = w0 + 4 * KHW * BMP;
                af[mt][0] = __float_as_uint(w0[0]), af[mt][1] = __float_as_uint(w0[8]);
                af[mt][2] = __float_as_uint(w1[0]), af[mt][3] = __float_as_uint(w1[8]);
            }
#pragma unroll
            for (int nt = 0; nt < 4; nt++) {
                const int r = 2 * wn + (nt >> 1) + dh, c = (nt & 1) * 8 + g + dw;
                const uint32_t b0 = __float_as_uint(xb[t * IG_PS + r * IG_XRS + c]);
                const uint32_t b1 = __float_as_uint(xb[(t + 4) * IG_PS + r * IG_XRS + c]);
#pragma unroll
                for (int mt = 0; mt < MT; mt++) ig_mma(acc[mt][nt], af[mt], b0, b1);
            }
        }
        __syncthreads(); /* the next iteration's copies overwrite this buffer */
    }

    /* y = acc + b: acc[mt][nt] holds (channel g / g + 8, columns 2t, 2t + 1) */
#pragma unroll
    for (int mt = 0; mt < MT; mt++)
#pragma unroll
        for (int h8 = 0; h8 < 2; h8++) {
            const int64_t co = co0 + wm * 16 * MT + mt * 16 + g + 8 * h8;
            if (co >= a.Cout) continue;
            const float bias = a.b ? ldf(a.b, a.bdt, co) : 0.0f;
#pragma unroll
            for (int nt = 0; nt < 4; nt++) {
                const int64_t ho = ho0 + 2 * wn + (nt >> 1);
                if (ho >= a.Ho) continue;
#pragma unroll
                for (int e = 0; e < 2; e++) {
                    const int64_t wo = wo0 + (nt & 1) * 8 + 2 * t + e;
                    if (wo < a.Wo)
                        stf(a.y, a.ydt, ((co * a.To + to) * a.Ho + ho) * a.Wo + wo, acc[mt][nt][2 * h8 + e] + bias);
                }
            }
        }
}

extern "C" int cuda_conv3d_igemm_fits(const cuda_conv3d_args *a) {
    return a->xdt == KDT_F32 && a->stride[0] == 1 && a->stride[1] == 1 && a->stride[2] == 1 &&
           ((a->kh == 3 && a->kw == 3) || (a->kh == 1 && a->kw == 1)) && a->Cin % IG_CK == 0 &&
           a->To <= 65535 && a->Cout / 32 < 65535 &&
           (a->Ho + IG_RH - 1) / IG_RH * ((a->Wo + IG_RW - 1) / IG_RW) < INT32_MAX &&
           a->kt * (a->Cin / IG_CK) < INT32_MAX;
}

extern "C" size_t cuda_conv3d_igemm_weight_bytes(const cuda_conv3d_args *a) {
    return (size_t)(((a->Cout + 3) & ~(int64_t)3) * a->Cin * a->kt * a->kh * a->kw) * sizeof(float);
}

template <int KH, int KW, int MT> static int launch_igemm(cudaStream_t st, const cuda_conv3d_args *a, const float *wt) {
    constexpr int BM = 32 * MT;
    const size_t smem = (size_t)2 * (IG_CK * IG_PS + IG_CK * KH * KW * (BM + 8)) * sizeof(float);
    auto kern = conv3d_igemm_kernel<KH, KW, MT>;
    cudaError_t e = cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
    if (e != cudaSuccess) return (int)e;
    const int64_t tiles = (a->Ho + IG_RH - 1) / IG_RH * ((a->Wo + IG_RW - 1) / IG_RW);
    dim3 grid((unsigned)tiles, (unsigned)a->To, (unsigned)((a->Cout + BM - 1) / BM));
    kern<<<grid, IG_THREADS, smem, st>>>(*a, wt);
    return launch_status();
}

extern "C" int cuda_conv3d_igemm(void *stream, const cuda_conv3d_args *a, float *wt) {
    if (!cuda_conv3d_igemm_fits(a)) return (int)cudaErrorInvalidValue;
    if (a->To <= 0 || a->Ho <= 0 || a->Wo <= 0 || a->Cout <= 0) return 0;
    cudaStream_t st = (cudaStream_t)stream;
    const int64_t khw = a->kh * a->kw, Coutp = (a->Cout + 3) & ~(int64_t)3, n = Coutp * a->Cin * a->kt * khw;
    conv3d_igemm_weights_kernel<<<grid_for(n, 256), 256, 0, st>>>(wt, a->w, a->wdt, a->Cout, Coutp, a->Cin, a->kt,
                                                                  khw);
    int k = launch_status();
    if (k) return k;
    /* 96 channels a CTA where that divides Cout (the Wan VAE's 96, 192, 384), 32 for
     * a few (the VAE's 3 output channels), else 128 */
    const int mt = a->Cout % 96 == 0 ? 3 : a->Cout <= 32 ? 1 : 4;
    if (a->kh == 3)
        return mt == 3 ? launch_igemm<3, 3, 3>(st, a, wt) : mt == 1 ? launch_igemm<3, 3, 1>(st, a, wt)
                                                                   : launch_igemm<3, 3, 4>(st, a, wt);
    return mt == 3 ? launch_igemm<1, 1, 3>(st, a, wt) : mt == 1 ? launch_igemm<1, 1, 1>(st, a, wt)
                                                               : launch_igemm<1, 1, 4>(st, a, wt);
}
