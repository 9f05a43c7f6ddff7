## make-ref-kr-pbkrtest.R -- Kenward-Roger references for residual-covariance fits
## with random effects. `y ~ ... + (1 | site) + cs(visit | id)` is the model
## `y ~ ... + (1 | site) + (1 | id)` of lme4 when the within-subject correlation is
## positive (here it is), so pbkrtest's vcovAdj() and df on the lmer fit are the
## reference for lemma's Kenward-Roger on the variance-component (linear)
## parametrization with expected information, which is what pbkrtest computes.
## Run from tests/testthat/ref/:  Rscript make-ref-kr-pbkrtest.R
library(lme4)
library(pbkrtest)
set.seed(3)
ns <- 12; per <- 6; m <- 4
d <- expand.grid(visit = factor(paste0("V", 1:m)), id = factor(1:(ns * per)))
d$site <- factor((as.integer(d$id) - 1) %/% per + 1)
d$x <- rnorm(nrow(d))
d$trt <- factor(as.integer(d$id) %% 2)
u_site <- rnorm(ns, sd = 1); b_site <- rnorm(ns, sd = 0.5); u_id <- rnorm(ns * per, sd = 0.8)
d$y <- 1 + 0.5 * d$x + 0.3 * as.integer(d$visit) + u_site[d$site] + b_site[d$site] * d$x + u_id[d$id] +
  rnorm(nrow(d))
d <- d[-sample(nrow(d), 30), ]
ctrl <- lmerControl(optimizer = "bobyqa", optCtrl = list(rhobeg = 1e-2, rhoend = 1e-10))
one <- function(f) {
  fit <- lmer(f, d, control = ctrl)
  V <- as.matrix(vcovAdj(fit))
  p <- ncol(V)
  L2 <- diag(p)[2:3, , drop = FALSE]
  list(formula = deparse1(f), logLik = as.numeric(logLik(fit)), beta = fixef(fit), se = sqrt(diag(V)),
       df = vapply(seq_len(p), function(i) get_Lb_ddf(fit, diag(p)[i, , drop = FALSE]), numeric(1)),
       F23 = KRmodcomp(fit, L2)$test["Ftest", ])
}
refs <- list(data = d,
             intercept = one(y ~ x + trt + visit + (1 | site) + (1 | id)),
             slope = one(y ~ x + trt + visit + (x | site) + (1 | id)),
             info = list(lme4 = as.character(packageVersion("lme4")),
                         pbkrtest = as.character(packageVersion("pbkrtest")), R = R.version.string,
                         date = Sys.Date()))
saveRDS(refs, "kr_pbkrtest_refs.rds")
