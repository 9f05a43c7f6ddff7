// The O(n) kernel of the spectral likelihood: weighted sums of product columns
// with weights h_i^r, h_i = 1 / (1 + lambda d_i), r = 1..3, in one pass over
// the individuals. Every likelihood evaluation of a SNP's variance-ratio
// search is one call.
#ifndef LEMMA_SPECTRAL_SUMS_H
#define LEMMA_SPECTRAL_SUMS_H

namespace lemma {

// Scalar sums over i at lambda: sum h, sum h^2, sum d h, sum (d h)^2 and
// log prod (1 + lambda d) (the last only when asked for).
struct SpectralScalars {
  double s_h, s_h2, s_dh, s_dh2, logdet;
};

// P: n x npair, column-major with leading dimension ldp (P and sums may be
// NULL when npair is 0: only the scalars are wanted). On return
// sums[r * npair + q] = sum_i h_i^(r + 1) P(i, q) for r < powers (1..3).
// Compiled for AVX-512 or AVX2/FMA where the CPU has them and LEMMA_SIMD allows
// (chosen at run time, simd_env.h), so the
// result can differ between machines in the last bits, never between runs.
void spectral_sums(const double* d, int n, double lambda, const double* P,
                   int ldp, int npair, int powers, bool need_log,
                   double* sums, SpectralScalars& scalars);

}  // namespace lemma

#endif
