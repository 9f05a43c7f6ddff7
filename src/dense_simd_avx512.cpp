// The dense kernels (dense_kernels_body.h) compiled for AVX-512 (F, DQ, VL, BW) + FMA,
// for CPUs that have them; dense_simd.cpp chooses the set at run time. As in
// dense_simd_avx2.cpp: a target pragma, Eigen renamed into a namespace of its own,
// the standard headers before the pragma. Only with Eigen 3.4 or later (CRAN's
// RcppEigen >= 0.3.4): Eigen 3.3's matrix products do not use 512-bit registers, so
// the AVX2 set is as fast there.
#include "dense_kernels.h"
#include "gemm_avx512.h"
#include "dense_kernels_std.h"
// Eigen 3.4 moved its instruction-set configuration out of Macros.h into
// ConfigureVectorization.h: where that header exists, Macros.h (the version
// macros) reads no instruction-set macro and can be included before the pragma,
// with Eigen already renamed (it declares a few helpers in Eigen's namespace). With
// Eigen 3.3 nothing below is compiled.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && !defined(_WIN32) && \
    defined(__has_include)
#if __has_include(<Eigen/src/Core/util/ConfigureVectorization.h>)
#define Eigen lemma_eigen_avx512
#include <Eigen/src/Core/util/Macros.h>
// Not on Windows (above): there GCC does not align the stack to 64 bytes for
// spilled AVX-512 registers (GCC bug 54412); the AVX2 set is used.
#if EIGEN_VERSION_AT_LEAST(3, 4, 0)
#define LEMMA_BUILD_AVX512 1
#endif
#endif
#endif

#ifdef LEMMA_BUILD_AVX512
#ifndef __AVX512F__
#pragma GCC push_options
#pragma GCC target("avx512f,avx512dq,avx512vl,avx512bw,avx2,fma")
#define LEMMA_POP_TARGET 1
#define __AVX__ 1
#define __AVX2__ 1
#define __FMA__ 1
#define __AVX512F__ 1
#define __AVX512DQ__ 1
#define __AVX512VL__ 1
#define __AVX512BW__ 1
#endif
#endif

#ifdef LEMMA_BUILD_AVX512
#include <Eigen/Core>
#include <Eigen/Cholesky>
#define LEMMA_KERNEL_NS avx512
#define LEMMA_KERNEL_NAME "avx512"
#include "dense_kernels_body.h"
#include "gemm_avx512_body.h"
#endif
#ifdef LEMMA_POP_TARGET
#pragma GCC pop_options  // the table getter below runs on any CPU
#endif

namespace lemma {
const DenseKernels* dense_kernels_avx512() {
#ifdef LEMMA_BUILD_AVX512
  return &avx512::table;
#else
  return nullptr;
#endif
}

// (a constant: safe to call on any CPU; the check of the CPU is in simd_env.cpp)
bool avx512_gemm_built() {
#ifdef LEMMA_BUILD_AVX512
  return true;
#else
  return false;
#endif
}

#ifndef LEMMA_BUILD_AVX512
// Not built: never called (avx512_gemm_built() is false), defined for the linker.
void avx512_float_product(const float*, int, int, const float*, int, float*) {}
void avx512_double_crossprod(const double*, int, int, int, const double*, int, int, double*) {}
#endif
}  // namespace lemma
