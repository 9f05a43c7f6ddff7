# Reference values for tests/testthat/test-scale.R: lme4's criteria and fixed effects
# for covariates on extreme scales and for a model with two basins.
#
#   cd tests/testthat/ref && Rscript make-ref-scale.R     (lme4 needed; ~1 min)
#
# Scale cases: `Reaction ~ D + (D | Subject)` with D = Days * c. lme4 is fitted on the
# well-scaled model (D = Days) and the reference mapped exactly: theta's rows for D
# divide by c, the fixed effect of D divides by c, the ML deviance is unchanged and
# the REML criterion gains 2 log(c) (the column of R_X for D is multiplied by c).
# lme4 fitted directly on D does not reach that optimum for c = 1e6 (1784.6 against
# 1771.26), and fails for c = 1e9. The profile intervals (REML fit) map likewise:
# the rows of sd(D) and of D divide by c.
#
# A 12 x 12 unstructured term (78 parameters): `y ~ f + (0 + f | g)` with a 12-level
# factor f, 30 groups and 2 replicates per cell (720 observations), responses drawn
# from a random covariance; lme4's default optimizer and "bobyqa" (Nelder_Mead is
# not competitive with 78 parameters and takes minutes).
#
# Basins: the data of tools/fuzz-formula.R (seed 42) and the formulas it found, each
# fitted by lme4 with its default optimizer, "bobyqa" and "Nelder_Mead"; the best
# criterion is stored.
suppressPackageStartupMessages(library(lme4))

best_of_lme4 <- function(formula, data, REML) {
  crit <- vapply(c("nloptwrap", "bobyqa", "Nelder_Mead"), function(o) {
    m <- suppressWarnings(suppressMessages(
      lmer(formula, data, REML = REML, control = lmerControl(optimizer = o))))
    if (REML) REMLcrit(m) else deviance(m)
  }, numeric(1))
  min(crit)
}

scale <- list()
for (REML in c(TRUE, FALSE)) {
  m <- lmer(Reaction ~ Days + (Days | Subject), sleepstudy, REML = REML)
  scale[[if (REML) "REML" else "ML"]] <- list(
    REML = REML, crit = if (REML) REMLcrit(m) else deviance(m), fixef = fixef(m),
    sd = as.data.frame(VarCorr(m))$sdcor,
    confint = if (REML) suppressMessages(confint(m, method = "profile", oldNames = TRUE)))
}

# The data of tools/fuzz-formula.R's child sessions.
set.seed(42)
n <- 72
d <- data.frame(g = factor(rep(paste0("g", 1:6), each = 12)),
                h = factor(rep(paste0("h", 1:4), 18)),
                s = factor(rep(rep(c("s1", "s2", "s3"), each = 4), 6)),
                a = factor(rep(c("lo", "mid", "hi"), 24)),
                b = factor(sample(c("u", "v"), n, TRUE)),
                x = rnorm(n), z = rnorm(n), t = rep(1:12, 6),
                w = runif(n, 0.5, 2), off = rnorm(n, sd = 0.1))
d$y <- 20 + d$x + 0.5 * d$z + rnorm(6)[d$g] + rnorm(4, sd = 0.5)[d$h] +
  rnorm(18, sd = 0.5)[interaction(d$g, d$s)] + 0.3 * d$x * rnorm(6)[d$g] + rnorm(n)
basins <- list()
for (f in c("y ~ x:a + (x | b) + (b || h/g) - 1", "y ~ 0 + (h || g)"))
  for (REML in c(TRUE, FALSE))
    basins[[length(basins) + 1L]] <- list(formula = f, REML = REML,
                                          lme4_best = best_of_lme4(as.formula(f), d, REML))

set.seed(1)
nf <- 12
d12 <- expand.grid(rep = 1:2, f = factor(1:nf), g = factor(1:30))
L <- matrix(rnorm(nf * nf, sd = 0.3), nf)
S <- crossprod(L) + diag(nf) * 0.5
b12 <- t(chol(S)) %*% matrix(rnorm(nf * 30), nf)
d12$y <- 10 + as.numeric(d12$f) * 0.2 + b12[cbind(as.integer(d12$f), as.integer(d12$g))] + rnorm(nrow(d12))
d12$rep <- NULL
unstructured <- list(data = d12, formula = "y ~ f + (0 + f | g)", REML = TRUE,
                     lme4_best = min(vapply(c("nloptwrap", "bobyqa"), function(o)
                       REMLcrit(suppressWarnings(suppressMessages(lmer(y ~ f + (0 + f | g), d12,
                         control = lmerControl(optimizer = o))))), numeric(1))))

saveRDS(list(scale = scale, fuzz_data = d, basins = basins, unstructured = unstructured,
             lme4_version = as.character(packageVersion("lme4"))),
        "scale_refs.rds", version = 2)
