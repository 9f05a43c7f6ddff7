// See spectral_sums.h. The individuals are taken in blocks of kBlock: the
// weights of a block are formed once (one division each) and then every
// column is reduced against them, so the weights stay in L1 and each column
// is read once per call. Each block ends in horizontal sums of the vector
// accumulators, whose latency rivals the block's work at 128 individuals; the
// AVX-512 build takes 1,024 (its four weight arrays, 32 KB, still fit in L1):
// about 1.3x faster per call than the AVX2 build at n = 5,000. The reductions are written with `omp simd` so that
// they vectorize (reassociation of the sums is allowed in these loops only).
#include "spectral_sums.h"

#include <algorithm>
#include <cmath>

#include "simd_env.h"

namespace lemma {

namespace {

template <int kBlock>
inline __attribute__((always_inline)) void sums_body(
    const double* d, int n, double lambda, const double* P, int ldp, int npair,
    int powers, bool need_log, double* sums, SpectralScalars& sc) {
  double h1[kBlock], h2[kBlock], h3[kBlock], t1[kBlock];
  for (int q = 0; q < powers * npair; ++q) sums[q] = 0.0;
  double s_h = 0.0, s_h2 = 0.0, s_dh = 0.0, s_dh2 = 0.0;
  double log_mant = 1.0;  // logdet = log(log_mant) + log_exp log(2)
  long log_exp = 0;
  for (int i0 = 0; i0 < n; i0 += kBlock) {
    const int m = std::min(kBlock, n - i0);
    const double* di = d + i0;
#pragma omp simd reduction(+ : s_h, s_h2, s_dh, s_dh2)
    for (int i = 0; i < m; ++i) {
      double t = 1.0 + lambda * di[i];
      double h = 1.0 / t;
      t1[i] = t;
      double hh = h * h;
      double dh = di[i] * h;
      h1[i] = h;
      h2[i] = hh;
      h3[i] = hh * h;
      s_h += h;
      s_h2 += hh;
      s_dh += dh;
      s_dh2 += dh * dh;
    }
    if (need_log) {
      // products of 16 factors (each >= 1, at most ~1e9, so no overflow)
      // folded into a mantissa and a binary exponent: one log per call
      for (int i = 0; i < m; i += 16) {
        double pr[4] = {1.0, 1.0, 1.0, 1.0};
        const int e = std::min(m, i + 16);
        int t = i;
        for (; t + 4 <= e; t += 4)
          for (int u = 0; u < 4; ++u) pr[u] *= t1[t + u];
        for (; t < e; ++t) pr[0] *= t1[t];
        int ex = 0;
        log_mant = std::frexp(log_mant * ((pr[0] * pr[1]) * (pr[2] * pr[3])), &ex);
        log_exp += ex;
      }
    }
    for (int q = 0; q < npair; ++q) {
      const double* p = P + static_cast<long>(q) * ldp + i0;
      double a1 = 0.0, a2 = 0.0, a3 = 0.0;
      if (powers == 1) {
#pragma omp simd reduction(+ : a1)
        for (int i = 0; i < m; ++i) a1 += h1[i] * p[i];
      } else if (powers == 2) {
#pragma omp simd reduction(+ : a1, a2)
        for (int i = 0; i < m; ++i) {
          a1 += h1[i] * p[i];
          a2 += h2[i] * p[i];
        }
      } else {
#pragma omp simd reduction(+ : a1, a2, a3)
        for (int i = 0; i < m; ++i) {
          a1 += h1[i] * p[i];
          a2 += h2[i] * p[i];
          a3 += h3[i] * p[i];
        }
      }
      sums[q] += a1;
      if (powers > 1) sums[npair + q] += a2;
      if (powers > 2) sums[2 * npair + q] += a3;
    }
  }
  sc.s_h = s_h;
  sc.s_h2 = s_h2;
  sc.s_dh = s_dh;
  sc.s_dh2 = s_dh2;
  sc.logdet = need_log ? std::log(log_mant) + static_cast<double>(log_exp) * M_LN2 : 0.0;
}

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define LEMMA_SUMS_DISPATCH 1
__attribute__((target("avx512f,avx512dq,avx512vl,avx512bw,avx2,fma"))) void sums_avx512(
    const double* d, int n, double lambda, const double* P, int ldp, int npair,
    int powers, bool need_log, double* sums, SpectralScalars& sc) {
  sums_body<1024>(d, n, lambda, P, ldp, npair, powers, need_log, sums, sc);
}
__attribute__((target("avx2,fma"))) void sums_avx2(
    const double* d, int n, double lambda, const double* P, int ldp, int npair,
    int powers, bool need_log, double* sums, SpectralScalars& sc) {
  sums_body<128>(d, n, lambda, P, ldp, npair, powers, need_log, sums, sc);
}
#endif

void sums_generic(const double* d, int n, double lambda, const double* P,
                  int ldp, int npair, int powers, bool need_log, double* sums,
                  SpectralScalars& sc) {
  sums_body<128>(d, n, lambda, P, ldp, npair, powers, need_log, sums, sc);
}

}  // namespace

void spectral_sums(const double* d, int n, double lambda, const double* P,
                   int ldp, int npair, int powers, bool need_log, double* sums,
                   SpectralScalars& sc) {
#ifdef LEMMA_SUMS_DISPATCH
  const int level = simd_level();
  if (level == kSimdAvx512) {
    sums_avx512(d, n, lambda, P, ldp, npair, powers, need_log, sums, sc);
    return;
  }
  if (level == kSimdAvx2) {
    sums_avx2(d, n, lambda, P, ldp, npair, powers, need_log, sums, sc);
    return;
  }
#endif
  sums_generic(d, n, lambda, P, ldp, npair, powers, need_log, sums, sc);
}

}  // namespace lemma
