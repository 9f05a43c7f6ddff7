## make-ref-inference.R -- regenerate the stored small-sample inference
## references for lemma (issue 3).
##
## Run from tests/testthat/ref:   Rscript make-ref-inference.R
## Writes inference_refs.rds: a list with $info (versions, date) and $designs,
## one record per design:
##   data, formula, reduced (formula of the reduced model for KRmodcomp),
##   emm_factor (factor for emmeans, or NULL), L1 (1 x p contrast), LM (k x p),
##   coef_satt, coef_kr       summary(fit, ddf = ...)$coefficients  (lmerTest)
##   anova_III_satt, anova_II_satt, anova_I_satt, anova_III_kr    (lmerTest anova)
##   contest_L1_satt, contest_L1_kr, contest_LM_satt, contest_LM_kr (lmerTest contest)
##   vcov, vcovAdj            unadjusted and Kenward-Roger adjusted covariance (pbkrtest)
##   kr_ddf                   pbkrtest::get_Lb_ddf for each coefficient (unit vectors)
##   krmodcomp                KRmodcomp(full, reduced)$test  (rows Ftest, FtestU;
##                            cols stat, ndf, ddf, F.scaling, p.value) and the
##                            restriction matrix L_restr (the L that KRmodcomp returns):
##                            KRmodcomp(full, reduced) == contest(full, L_restr, ddf = "Kenward-Roger")
##                            with F value = Ftest stat, DenDF = ddf, Pr(>F) = Ftest p.value
##   confint_profile, confint_Wald, confint_map (for 3 designs)
##   emm_satt, emm_kr, pairs_satt, pairs_kr  (emmeans, when installed)
##   singular, warnings
## All fits are REML (Kenward-Roger requires REML).
suppressPackageStartupMessages({
  library(lme4)
  library(lmerTest)
  library(pbkrtest)
})
have_emmeans <- requireNamespace("emmeans", quietly = TRUE)

plain_df <- function(d) {
  d <- as.data.frame(d); class(d) <- "data.frame"
  for (v in names(d)) if (is.ordered(d[[v]]))
    d[[v]] <- factor(as.character(d[[v]]), levels = levels(d[[v]]))
  d
}

## ---------------------------------------------------------------- designs

sleep <- plain_df(lme4::sleepstudy)

## unbalanced sleepstudy: 25 rows removed
set.seed(11)
sleep_unb <- sleep[-sort(sample(nrow(sleep), 25)), ]
rownames(sleep_unb) <- NULL

## 2x2 crossover: sequences AB / BA, two periods, two dropouts in period 2
set.seed(12)
nsub <- 24
co <- expand.grid(period = factor(1:2), subject = factor(sprintf("c%02d", 1:nsub)))
co$sequence <- factor(ifelse(as.integer(co$subject) <= nsub / 2, "AB", "BA"))
co$treatment <- factor(ifelse((co$sequence == "AB") == (co$period == "1"), "A", "B"))
co$y <- 20 + rnorm(nsub, 0, 3)[co$subject] + 1.0 * (co$period == "2") +
  1.5 * (co$treatment == "B") + rnorm(nrow(co), 0, 1.5)
co <- co[!(co$subject %in% c("c05", "c17") & co$period == "2"), ]
co <- co[, c("subject", "sequence", "period", "treatment", "y")]
rownames(co) <- NULL

## split-plot: days random, treatment fixed, random day:treatment interaction
set.seed(13)
sp <- expand.grid(rep = 1:3, trt = factor(c("T1", "T2", "T3", "T4")),
                  day = factor(sprintf("d%02d", 1:10)))
sp$y <- 50 + c(T1 = 0, T2 = 1, T3 = 2.5, T4 = 0.5)[as.character(sp$trt)] +
  rnorm(10, 0, 2)[sp$day] + rnorm(40, 0, 1.5)[interaction(sp$day, sp$trt)] + rnorm(nrow(sp), 0, 1)
sp <- sp[-sample(nrow(sp), 7), ]
sp$rep <- NULL
rownames(sp) <- NULL

## random-slope trial with dropped visits (same generator as make-ref-lme4.R)
source("sim-trial.R")
trial <- simulate_trial()

## singular fit: batch variance estimated at zero
set.seed(1)
sg <- data.frame(batch = factor(rep(sprintf("b%d", 1:8), each = 9)),
                 grp = factor(rep(c("ctl", "low", "high"), 24), levels = c("ctl", "low", "high")),
                 x = runif(72, 0, 5))
sg$y <- 10 + c(ctl = 0, low = 1, high = 2.5)[as.character(sg$grp)] + 0.6 * sg$x +
  rnorm(8, 0, 0.3)[sg$batch] + rnorm(72, 0, 2)

D <- function(data, dataset, formula, reduced, emm_factor = NULL, L1, LM, profile = FALSE)
  list(data = data, dataset = dataset, formula = formula, reduced = reduced,
       emm_factor = emm_factor, L1 = L1, LM = LM, profile = profile)
designs <- list(
  sleep_balanced = D(sleep, "lme4::sleepstudy", "Reaction ~ Days + (Days | Subject)",
    reduced = "Reaction ~ 1 + (Days | Subject)",
    L1 = rbind(c(0, 1)), LM = rbind(c(1, 0), c(0, 1)), profile = TRUE),
  sleep_unbalanced = D(sleep_unb, "lme4::sleepstudy, 25 rows removed (set.seed(11))",
    "Reaction ~ Days + (Days | Subject)", reduced = "Reaction ~ 1 + (Days | Subject)",
    L1 = rbind(c(1, 5)), LM = rbind(c(1, 0), c(0, 1))),
  crossover = D(co, "simulated 2x2 crossover (set.seed(12))",
    "y ~ sequence + period + treatment + (1 | subject)",
    reduced = "y ~ sequence + period + (1 | subject)", emm_factor = "treatment",
    L1 = rbind(c(0, 0, 0, 1)), LM = rbind(c(0, 1, 0, 0), c(0, 0, 0, 1)), profile = TRUE),
  splitplot = D(sp, "simulated split-plot (set.seed(13))",
    "y ~ trt + (1 | day) + (1 | day:trt)", reduced = "y ~ 1 + (1 | day) + (1 | day:trt)",
    emm_factor = "trt",
    L1 = rbind(c(0, 1, -1, 0)), LM = rbind(c(0, 1, 0, 0), c(0, 0, 1, 0), c(0, 0, 0, 1)),
    profile = TRUE),
  trial_dropout = D(trial, "simulated trial with dropout (set.seed(202))",
    "y ~ visit * arm + (visit | id)", reduced = "y ~ visit + arm + (visit | id)",
    emm_factor = "arm",
    L1 = rbind(c(0, 0, 0, 1)), LM = rbind(c(0, 0, 1, 0), c(0, 0, 0, 1))),
  singular = D(sg, "simulated, batch variance 0 (set.seed(1))",
    "y ~ grp + x + (1 | batch)", reduced = "y ~ x + (1 | batch)", emm_factor = "grp",
    L1 = rbind(c(0, 0, 0, 1)), LM = rbind(c(0, 1, 0, 0), c(0, 0, 1, 0)))
)

## ---------------------------------------------------------------- helpers

keep_df <- function(x) { x <- as.data.frame(x); x }
quiet <- function(expr) {
  w <- character()
  val <- withCallingHandlers(expr,
    warning = function(c) { w <<- c(w, conditionMessage(c)); invokeRestart("muffleWarning") },
    message = function(c) invokeRestart("muffleMessage"))
  attr(val, "warnings_seen") <- if (length(w)) w else NULL
  val
}
fit_lmerTest <- function(form, data) {
  env <- new.env(parent = globalenv()); env$.d <- data
  eval(call("lmer", as.formula(form, env = env), data = quote(.d), REML = TRUE), env)
}

## map lme4's profile parameter names (.sig01, ..., .sigma) to VarCorr rows.
## .sigNN follow the theta layout: terms in lme4's order (decreasing number of
## levels), within a term the column-wise lower triangle of the covariance, so a
## (1 + x | g) term gives .sig01 = sd((Intercept)), .sig02 = cor((Intercept), x),
## .sig03 = sd(x); .sigma is the residual sd. (Not the row order of
## as.data.frame(VarCorr()), which lists all sds of a term before its correlations.)
confint_map <- function(fit) {
  cn <- getME(fit, "cnms")
  rows <- list()
  for (g in seq_along(cn)) {
    v <- cn[[g]]; grp <- names(cn)[g]
    for (j in seq_along(v)) for (i in j:length(v))
      rows[[length(rows) + 1L]] <- data.frame(grp = grp, var1 = v[j],
        var2 = if (i == j) NA_character_ else v[i], stringsAsFactors = FALSE)
  }
  m <- do.call(rbind, rows)
  m <- rbind(m, data.frame(grp = "Residual", var1 = NA_character_, var2 = NA_character_))
  cbind(parm = c(sprintf(".sig%02d", seq_len(nrow(m) - 1L)), ".sigma"), m,
        stringsAsFactors = FALSE)
}

record_design <- function(name, d) {
  cat("==", name, ":", d$formula, "\n")
  t0 <- proc.time()[["elapsed"]]
  fit <- quiet(fit_lmerTest(d$formula, d$data))
  wrn <- attr(fit, "warnings_seen"); attr(fit, "warnings_seen") <- NULL
  red <- suppressMessages(suppressWarnings(fit_lmerTest(d$reduced, d$data)))
  p <- length(fixef(fit))
  colnames(d$L1) <- colnames(d$LM) <- names(fixef(fit))
  stopifnot(ncol(d$L1) == p, ncol(d$LM) == p)
  r <- d
  r$fixef <- fixef(fit)
  r$sigma <- sigma(fit)
  r$REMLcrit <- REMLcrit(fit)
  r$singular <- isSingular(fit)
  r$warnings <- wrn
  r$varcorr <- { v <- as.data.frame(VarCorr(fit)); for (k in c("grp", "var1", "var2")) v[[k]] <- as.character(v[[k]]); v }
  r$coef_satt <- summary(fit, ddf = "Satterthwaite")$coefficients
  r$coef_kr   <- quiet(summary(fit, ddf = "Kenward-Roger")$coefficients)
  r$coef_none <- summary(fit, ddf = "lme4")$coefficients
  r$anova_III_satt <- keep_df(anova(fit, type = "III", ddf = "Satterthwaite"))
  r$anova_II_satt  <- keep_df(anova(fit, type = "II", ddf = "Satterthwaite"))
  r$anova_I_satt   <- keep_df(anova(fit, type = "I", ddf = "Satterthwaite"))
  r$anova_III_kr   <- keep_df(quiet(anova(fit, type = "III", ddf = "Kenward-Roger")))
  r$contest_L1_satt <- keep_df(contest(fit, d$L1, ddf = "Satterthwaite"))
  r$contest_L1_kr   <- keep_df(quiet(contest(fit, d$L1, ddf = "Kenward-Roger")))
  r$contest_LM_satt <- keep_df(contest(fit, d$LM, ddf = "Satterthwaite"))
  r$contest_LM_kr   <- keep_df(quiet(contest(fit, d$LM, ddf = "Kenward-Roger")))
  ## pbkrtest on the plain lmerMod
  fm <- as(fit, "lmerMod")
  rm <- as(red, "lmerMod")
  r$vcov <- as.matrix(vcov(fm))
  r$vcovAdj <- as.matrix(quiet(pbkrtest::vcovAdj(fm)))
  dimnames(r$vcovAdj) <- dimnames(r$vcov)
  r$kr_ddf <- setNames(vapply(seq_len(p), function(i) {
    L <- matrix(0, 1, p); L[i] <- 1
    as.numeric(quiet(pbkrtest::get_Lb_ddf(fm, L)))
  }, 0), names(fixef(fit)))
  kr <- quiet(pbkrtest::KRmodcomp(fm, rm))
  r$krmodcomp <- list(test = as.data.frame(kr$test),
                      L_restr = { L <- as.matrix(kr$L); colnames(L) <- names(fixef(fit)); L })
  if (d$profile) {
    r$confint_profile <- quiet(confint(fm, method = "profile", level = 0.95, oldNames = TRUE))
    r$confint_Wald <- confint(fm, method = "Wald", level = 0.95, oldNames = TRUE)
    r$confint_map <- confint_map(fm)
  }
  if (have_emmeans && !is.null(d$emm_factor)) {
    spec <- as.formula(paste("~", d$emm_factor))
    es <- quiet(emmeans::emmeans(fit, spec, lmer.df = "satterthwaite"))
    ek <- quiet(emmeans::emmeans(fit, spec, lmer.df = "kenward-roger"))
    r$emm_satt <- as.data.frame(summary(es))
    r$emm_kr   <- as.data.frame(summary(ek))
    r$pairs_satt <- as.data.frame(summary(pairs(es)))
    r$pairs_kr   <- as.data.frame(summary(pairs(ek)))
    for (k in c("emm_satt", "emm_kr")) r[[k]][[d$emm_factor]] <- as.character(r[[k]][[d$emm_factor]])
    for (k in c("pairs_satt", "pairs_kr")) r[[k]]$contrast <- as.character(r[[k]]$contrast)
  }
  r$seconds <- proc.time()[["elapsed"]] - t0
  cat(sprintf("   singular %s, %.1f s; warnings: %s\n", r$singular, r$seconds,
              paste(unique(wrn), collapse = " | ")))
  print(r$coef_kr)
  r
}

refs <- list(info = list(R = R.version.string,
                         lme4 = as.character(packageVersion("lme4")),
                         lmerTest = as.character(packageVersion("lmerTest")),
                         pbkrtest = as.character(packageVersion("pbkrtest")),
                         emmeans = if (have_emmeans) as.character(packageVersion("emmeans")) else NA,
                         date = format(Sys.time(), tz = "UTC", usetz = TRUE)),
             designs = list())
for (nm in names(designs)) refs$designs[[nm]] <- record_design(nm, designs[[nm]])
saveRDS(refs, "inference_refs.rds", version = 2)
cat("wrote inference_refs.rds with", length(refs$designs), "designs\n")
