## make-ref-simd.R -- regenerate simd_refs.rds, the lme4 references of
## test-simd.R: a crossed model whose dense trailing block (500 + 40 levels) goes
## through lemma's blocked SIMD Cholesky (panels of 128, threaded strips) and its
## selected inverse at every gradient.
##
## Run from the package source:   Rscript tests/testthat/ref/make-ref-simd.R
## (lme4 installed; a few seconds).
##
## Stored: the data, the formula, a fixed theta with lme4's REML criterion there
## (lme4's own deviance function, mkLmerDevfun), and lme4's best REML criterion over
## lmer's default optimizer, "bobyqa" and "Nelder_Mead", with its theta.
suppressPackageStartupMessages(library(lme4))
set.seed(11)
n <- 8000
d <- data.frame(a = factor(sample(900, n, TRUE)), b = factor(sample(500, n, TRUE)),
                c = factor(sample(40, n, TRUE)), x = rnorm(n))
d$y <- 1 + 0.5 * d$x + rnorm(900)[d$a] + 0.7 * rnorm(500)[d$b] + 0.5 * rnorm(40)[d$c] + rnorm(n)
formula <- y ~ x + (1 | a) + (1 | b) + (1 | c)
theta_fixed <- c(0.8, 0.6, 0.4)  # lme4's order: a, b, c (decreasing number of levels)

lf <- lFormula(formula, d, REML = TRUE)
devfun <- do.call(mkLmerDevfun, lf)
crit_fixed <- devfun(theta_fixed)

fits <- lapply(c("default", "bobyqa", "Nelder_Mead"), function(o) {
  ctrl <- if (o == "default") lmerControl() else lmerControl(optimizer = o)
  f <- lmer(formula, d, REML = TRUE, control = ctrl)
  list(optimizer = o, crit = REMLcrit(f), theta = getME(f, "theta"))
})
best <- fits[[which.min(vapply(fits, function(f) f$crit, 0))]]
saveRDS(list(data = d, formula = formula, theta_fixed = theta_fixed, crit_fixed = crit_fixed,
             lme4_fits = fits, lme4_best = best$crit, lme4_best_theta = unname(best$theta),
             lme4_version = as.character(packageVersion("lme4"))),
        file.path(Sys.getenv("LEMMA_SRC", "."), "tests/testthat/ref/simd_refs.rds"), version = 2)
cat("lme4", as.character(packageVersion("lme4")), "REML criterion at theta_fixed:",
    format(crit_fixed, digits = 15), " best:", format(best$crit, digits = 15), "\n")
