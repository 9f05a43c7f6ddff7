## make-ref-lme4.R -- regenerate the stored lme4 reference fits for lemma.
##
## Run from tests/testthat/ref:   Rscript make-ref-lme4.R
## Writes lme4_refs.rds: a list with
##   $info    R / lme4 / Matrix versions and the date
##   $models  named list, one record per model (see `record_model()` below)
##   $anova   named list of anova(m1, m2) tables (lme4 refits both with ML)
##
## Each model record holds the data frame itself (so the tests never need to
## reproduce an RNG stream), the formula as a string, REML, the weights column,
## the offset variable, and two extractions:
##   $fit  lme4::lmer with its default control (what a user gets), with the
##         warnings/messages it raised and `clean` (no convergence warning);
##   $opt  the best optimum lme4's own deviance function reaches: the default
##         fit plus refits with tightened nloptwrap-BOBYQA, minqa::bobyqa and
##         Nelder-Mead; the one with the smallest criterion is kept. Where lme4's
##         default stops short (ANCHORS.md: "the optimum is what counts") this is
##         the number lemma must reproduce; elsewhere it equals $fit to ~1e-6.
## plus $ml (ML refit of REML fits: deviance at lme4's default refit and at the
## polished ML optimum) and, for some models, newdata with predictions.
suppressPackageStartupMessages({
  library(lme4)
  library(nlme, include.only = character())
})

## ---------------------------------------------------------------- helpers

plain_df <- function(d) {
  ## strip groupedData / tibble classes and ordered factors (ordered factors
  ## would switch the fixed-effect contrasts to contr.poly; the grouping levels
  ## keep their order)
  d <- as.data.frame(d)
  class(d) <- "data.frame"
  for (v in names(d)) {
    if (is.ordered(d[[v]])) d[[v]] <- factor(as.character(d[[v]]), levels = levels(d[[v]]))
    attr(d[[v]], "label") <- NULL
    attr(d[[v]], "units") <- NULL
  }
  keep <- c("names", "row.names", "class")
  attributes(d)[setdiff(names(attributes(d)), keep)] <- NULL
  d
}

## evaluate lmer(formula, data, REML, weights, control) with the weights given
## by column name, capturing warnings and messages
run_lmer <- function(form, data, REML, weights = NULL, control = lmerControl()) {
  warn <- character(); msg <- character()
  env <- new.env(parent = globalenv())
  env$.d <- data; env$.ctrl <- control
  cl <- call("lmer", as.formula(form, env = env), data = quote(.d), REML = REML,
             control = quote(.ctrl))
  if (!is.null(weights)) cl$weights <- as.name(weights)
  fit <- withCallingHandlers(eval(cl, env),
    warning = function(w) { warn <<- c(warn, conditionMessage(w)); invokeRestart("muffleWarning") },
    message = function(m) { msg <<- c(msg, trimws(conditionMessage(m))); invokeRestart("muffleMessage") })
  list(fit = fit, warnings = warn, messages = msg)
}

crit_of <- function(fit) if (isREML(fit)) REMLcrit(fit) else deviance(fit)

conv_warning <- function(warn, fit) {
  any(grepl("converge|convergence|Hessian|eigenvalue", warn, ignore.case = TRUE)) ||
    any(!grepl("singular", unlist(fit@optinfo$conv$lme4$messages))) ||
    !identical(as.integer(fit@optinfo$conv$opt), 0L)
}

extract_fit <- function(fit) {
  ll <- logLik(fit)
  vc <- as.data.frame(VarCorr(fit))
  for (v in c("grp", "var1", "var2")) vc[[v]] <- as.character(vc[[v]])
  re <- as.data.frame(ranef(fit, condVar = TRUE))
  for (v in c("grpvar", "term", "grp")) re[[v]] <- as.character(re[[v]])
  V <- as.matrix(vcov(fit))
  list(
    criterion_type = if (isREML(fit)) "REML" else "ML",
    criterion = unname(crit_of(fit)),
    REMLcrit  = if (isREML(fit)) unname(REMLcrit(fit)) else NA_real_,
    deviance  = if (isREML(fit)) NA_real_ else unname(deviance(fit)),
    logLik = as.numeric(ll), logLik_df = attr(ll, "df"),
    fixef = fixef(fit),
    vcov = V, se = sqrt(diag(V)),
    sigma = sigma(fit),
    theta = getME(fit, "theta"),
    lower = getME(fit, "lower"),
    varcorr = vc,
    ranef = re,
    fitted = unname(fitted(fit)),
    residuals = unname(residuals(fit)),
    isSingular = isSingular(fit),
    ngrps = ngrps(fit),
    nobs = nobs(fit),
    AIC = AIC(fit), BIC = BIC(fit),
    optimizer = fit@optinfo$optimizer,
    feval = fit@optinfo$feval,
    conv_messages = unlist(fit@optinfo$conv$lme4$messages),
    dropped = attr(getME(fit, "X"), "col.dropped")
  )
}

## the candidate controls for the polished optimum
polish_controls <- list(
  nlopt_tight = lmerControl(optimizer = "nloptwrap", calc.derivs = FALSE,
    optCtrl = list(algorithm = "NLOPT_LN_BOBYQA", xtol_abs = 1e-12, ftol_abs = 1e-14,
                   xtol_rel = 1e-12, ftol_rel = 1e-15, maxeval = 1e5)),
  bobyqa = lmerControl(optimizer = "bobyqa", calc.derivs = FALSE,
    optCtrl = list(rhoend = 1e-10, maxfun = 1e5)),
  nelder_mead = lmerControl(optimizer = "Nelder_Mead", calc.derivs = FALSE,
    optCtrl = list(FtolAbs = 1e-14, FtolRel = 1e-15, XtolRel = 1e-12, maxfun = 1e5))
)

best_fit <- function(form, data, REML, weights, default_fit) {
  fits <- list(default = default_fit)
  for (nm in names(polish_controls)) {
    r <- try(run_lmer(form, data, REML, weights, polish_controls[[nm]])$fit, silent = TRUE)
    if (!inherits(r, "try-error")) fits[[nm]] <- r
  }
  crits <- vapply(fits, crit_of, 0)
  list(fit = fits[[which.min(crits)]], which = names(fits)[which.min(crits)],
       criteria = crits)
}

## ---------------------------------------------------------------- data

data_env <- new.env()
sleep <- plain_df(lme4::sleepstudy)
dye   <- plain_df(lme4::Dyestuff)
dye2  <- plain_df(lme4::Dyestuff2)
pen   <- plain_df(lme4::Penicillin)
pastes <- plain_df(lme4::Pastes)
cake  <- plain_df(lme4::cake)
ortho <- plain_df(nlme::Orthodont)
oxboys <- plain_df(nlme::Oxboys)
machines <- plain_df(nlme::Machines)

## sleepstudy with missing values (response and covariate): NA rows dropped
sleep_na <- sleep
sleep_na$Reaction[c(3, 17, 45, 46, 100, 151, 152, 153, 171)] <- NA
sleep_na$Days[c(12, 88, 170)] <- NA

## rank-deficient X: factor A x B with an empty cell -> A*B has one column too many
set.seed(101)
rd <- expand.grid(rep = 1:4, A = factor(c("a1", "a2", "a3")), B = factor(c("b1", "b2")),
                  g = factor(sprintf("g%02d", 1:8)))
rd <- rd[!(rd$A == "a3" & rd$B == "b2"), ]
rd$y <- 10 + as.integer(rd$A) + 2 * (rd$B == "b2") + rnorm(8, 0, 1.5)[rd$g] + rnorm(nrow(rd))
rd$rep <- NULL
rownames(rd) <- NULL

## longitudinal trial, 2 arms, visits 0..6 with dropout
source("sim-trial.R")
trial <- simulate_trial()

## crossed design: subjects crossed with assay days (batches), treatment fixed
set.seed(303)
cr <- expand.grid(subject = factor(sprintf("p%02d", 1:24)), day = factor(sprintf("d%02d", 1:10)))
cr$trt <- factor(ifelse(as.integer(cr$subject) %% 3 == 0, "C",
                        ifelse(as.integer(cr$subject) %% 3 == 1, "A", "B")))
cr$y <- 100 + c(A = 0, B = 3, C = -2)[as.character(cr$trt)] + rnorm(24, 0, 4)[cr$subject] +
  rnorm(10, 0, 2.5)[cr$day] + rnorm(nrow(cr), 0, 3)
cr <- cr[-sample(nrow(cr), 25), ]                       # unbalanced
rownames(cr) <- NULL

## weighted model: replicate-mean responses, weights = number of replicates
set.seed(404)
wd <- data.frame(g = factor(rep(sprintf("c%02d", 1:15), each = 6)), x = runif(90, 0, 10))
wd$w <- sample(1:5, 90, replace = TRUE)
wd$y <- 5 + 0.7 * wd$x + rnorm(15, 0, 1.5)[wd$g] + rnorm(90, 0, 2 / sqrt(wd$w))

## offset model: log rate with known log exposure
set.seed(505)
od <- data.frame(site = factor(rep(sprintf("h%02d", 1:12), each = 8)), x = rnorm(96))
od$logexp <- log(runif(96, 50, 500))
od$y <- od$logexp + -3 + 0.4 * od$x + rnorm(12, 0, 0.5)[od$site] + rnorm(96, 0, 0.3)

## steep random slope on a long time axis (days 0..720): lme4's default
## optimizer stops short here (max|grad| ~ 2, criterion ~1.6 above the optimum)
set.seed(6)
nid <- 40
steep <- expand.grid(time = seq(0, 720, by = 60), id = factor(1:nid))
sb0 <- rnorm(nid, 0, 5); sb1 <- rnorm(nid, 0, 0.08)
steep$y <- 50 + sb0[steep$id] + (0.5 + sb1[steep$id]) * steep$time + rnorm(nrow(steep), 0, 2)

## ---------------------------------------------------------------- models

M <- function(data, dataset, formula, REML = TRUE, weights = NULL, offset = NULL,
              newdata = NULL, note = "")
  list(data = data, dataset = dataset, formula = formula, REML = REML,
       weights = weights, offset = offset, newdata = newdata, note = note)

sleep_new <- data.frame(Days = c(0, 4.5, 9, 2), Subject = factor(c("308", "335", "999", "new")))
models <- list(
  sleep_int        = M(sleep, "lme4::sleepstudy", "Reaction ~ Days + (1 | Subject)",
                       newdata = sleep_new),
  sleep_slope      = M(sleep, "lme4::sleepstudy", "Reaction ~ Days + (Days | Subject)",
                       newdata = sleep_new),
  sleep_slope_ML   = M(sleep, "lme4::sleepstudy", "Reaction ~ Days + (Days | Subject)", REML = FALSE),
  sleep_uncorr     = M(sleep, "lme4::sleepstudy", "Reaction ~ Days + (Days || Subject)"),
  sleep_two_terms  = M(sleep, "lme4::sleepstudy", "Reaction ~ Days + (1 | Subject) + (0 + Days | Subject)"),
  sleep_slope_only = M(sleep, "lme4::sleepstudy", "Reaction ~ Days + (0 + Days | Subject)"),
  sleep_factor     = M(sleep, "lme4::sleepstudy", "Reaction ~ factor(Days) + (1 | Subject)"),
  sleep_poly       = M(sleep, "lme4::sleepstudy", "Reaction ~ poly(Days, 2) + (Days | Subject)",
                       newdata = sleep_new),
  sleep_na         = M(sleep_na, "lme4::sleepstudy with NAs", "Reaction ~ Days + (Days | Subject)",
                       note = "12 rows with NA in Reaction or Days dropped by na.omit"),
  dyestuff         = M(dye, "lme4::Dyestuff", "Yield ~ 1 + (1 | Batch)"),
  dyestuff_ML      = M(dye, "lme4::Dyestuff", "Yield ~ 1 + (1 | Batch)", REML = FALSE),
  dyestuff2_singular = M(dye2, "lme4::Dyestuff2", "Yield ~ 1 + (1 | Batch)",
                       note = "singular: Batch variance estimated at 0"),
  penicillin_crossed = M(pen, "lme4::Penicillin", "diameter ~ 1 + (1 | plate) + (1 | sample)"),
  pastes_nested    = M(pastes, "lme4::Pastes", "strength ~ 1 + (1 | batch/cask)"),
  pastes_interaction = M(pastes, "lme4::Pastes", "strength ~ 1 + (1 | batch) + (1 | batch:cask)", REML = FALSE),
  cake_quadratic   = M(cake, "lme4::cake", "angle ~ recipe + temp + I(temp^2) + (1 | recipe:replicate)",
                       newdata = data.frame(recipe = factor(c("A", "C", "B"), levels = c("A", "B", "C")),
                                            temp = c(180, 200, 220),
                                            replicate = factor(c("1", "7", "16"), levels = c(levels(cake$replicate), "16")))),
  orthodont_slope  = M(ortho, "nlme::Orthodont", "distance ~ age + Sex + (age | Subject)"),
  orthodont_log    = M(ortho, "nlme::Orthodont", "distance ~ log(age) * Sex + (1 | Subject)", REML = FALSE),
  oxboys_quadratic = M(oxboys, "nlme::Oxboys", "height ~ age + I(age^2) + (1 + age + I(age^2) | Subject)"),
  machines_int     = M(machines, "nlme::Machines", "score ~ Machine + (1 | Worker)"),
  machines_nested  = M(machines, "nlme::Machines", "score ~ Machine + (1 | Worker) + (1 | Worker:Machine)"),
  machines_factor_term = M(machines, "nlme::Machines", "score ~ Machine + (0 + Machine | Worker)"),
  rankdef          = M(rd, "simulated (set.seed(101))", "y ~ A * B + (1 | g)",
                       note = "A x B with empty cell a3:b2 -> one column of X dropped"),
  trial_dropout    = M(trial, "simulated (set.seed(202))", "y ~ visit * arm + (visit | id)",
                       newdata = data.frame(visit = c(0, 3, 6, 6), arm = factor(c("placebo", "active", "active", "placebo"), levels = c("placebo", "active")),
                                            id = factor(c("s01", "s02", "s99", "s98")))),
  trial_dropout_ML = M(trial, "simulated (set.seed(202))", "y ~ visit * arm + (visit | id)", REML = FALSE),
  crossed_days     = M(cr, "simulated (set.seed(303))", "y ~ trt + (1 | subject) + (1 | day)",
                       newdata = data.frame(trt = factor(c("A", "B", "C"), levels = c("A", "B", "C")),
                                            subject = factor(c("p01", "p02", "px")), day = factor(c("d01", "dx", "dy")))),
  weighted         = M(wd, "simulated (set.seed(404))", "y ~ x + (1 | g)", weights = "w"),
  weighted_ML      = M(wd, "simulated (set.seed(404))", "y ~ x + (1 | g)", REML = FALSE, weights = "w"),
  offset           = M(od, "simulated (set.seed(505))", "y ~ x + offset(logexp) + (1 | site)", offset = "logexp",
                       newdata = data.frame(x = c(0, 1), logexp = c(log(100), log(300)), site = factor(c("h01", "hx")))),
  steep_slope      = M(steep, "simulated (set.seed(6))", "y ~ time + (time | id)",
                       note = "lme4's default BOBYQA stops short on this design")
)

## ---------------------------------------------------------------- fit all

record_model <- function(name, m) {
  cat(sprintf("%-22s %s\n", name, m$formula))
  r <- run_lmer(m$formula, m$data, m$REML, m$weights)
  fit <- r$fit
  ex <- extract_fit(fit)
  ex$warnings <- r$warnings
  ex$messages <- r$messages
  ex$clean <- !conv_warning(r$warnings, fit)
  b <- best_fit(m$formula, m$data, m$REML, m$weights, fit)
  opt <- extract_fit(b$fit)
  opt$polish_with <- b$which
  opt$polish_criteria <- b$criteria
  ml <- NULL
  if (m$REML) {
    mlfit <- suppressWarnings(suppressMessages(refitML(fit)))
    mlb <- best_fit(m$formula, m$data, FALSE, m$weights,
                    suppressWarnings(suppressMessages(run_lmer(m$formula, m$data, FALSE, m$weights)$fit)))
    ml <- list(deviance_refitML = unname(deviance(mlfit)),
               deviance_opt = unname(deviance(mlb$fit)),
               logLik_opt = as.numeric(logLik(mlb$fit)),
               theta_opt = getME(mlb$fit, "theta"),
               fixef_opt = fixef(mlb$fit),
               sigma_opt = sigma(mlb$fit))
  }
  pred <- NULL
  if (!is.null(m$newdata)) {
    pred <- list(
      fixed_only = unname(predict(b$fit, newdata = m$newdata, re.form = NA)),
      new_levels = unname(predict(b$fit, newdata = m$newdata, allow.new.levels = TRUE)),
      fixed_only_default = unname(predict(fit, newdata = m$newdata, re.form = NA)),
      new_levels_default = unname(predict(fit, newdata = m$newdata, allow.new.levels = TRUE)))
  }
  ## how far the default fit is from the polished optimum
  gap <- list(
    criterion = ex$criterion - opt$criterion,
    theta_rel = max(abs(ex$theta - opt$theta)) / max(1e-8, mean(abs(opt$theta))),
    fixef_rel = max(abs(ex$fixef - opt$fixef)) / mean(abs(opt$fixef)))
  if (length(r$warnings)) cat("   warnings:", paste(r$warnings, collapse = " | "), "\n")
  if (length(r$messages)) cat("   messages:", paste(r$messages, collapse = " | "), "\n")
  cat(sprintf("   crit %.8f  opt %.8f (%s)  gap %.2e  theta_rel %.1e  singular %s\n",
              ex$criterion, opt$criterion, b$which, gap$criterion, gap$theta_rel, ex$isSingular))
  c(m, list(fit = ex, opt = opt, ml = ml, predict = pred, gap = gap))
}

refs <- list(info = list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
                         Matrix = as.character(packageVersion("Matrix")),
                         nlme = as.character(packageVersion("nlme")),
                         date = format(Sys.time(), tz = "UTC", usetz = TRUE)),
             models = list(), anova = list())
for (nm in names(models)) refs$models[[nm]] <- record_model(nm, models[[nm]])

## ---------------------------------------------------------------- anova pairs
## anova(m1, m2) refits REML fits with ML (refit = TRUE, lme4's default)
anova_pairs <- list(
  sleep_int_vs_slope = c("sleep_int", "sleep_slope"),
  machines_int_vs_nested = c("machines_int", "machines_nested")
)
extra <- list(
  orthodont_sex = M(ortho, "nlme::Orthodont", "distance ~ age + (age | Subject)"),
  trial_no_interaction = M(trial, "simulated (set.seed(202))", "y ~ visit + arm + (visit | id)")
)
for (nm in names(extra)) refs$models[[nm]] <- record_model(nm, extra[[nm]])
anova_pairs$orthodont_sex <- c("orthodont_sex", "orthodont_slope")
anova_pairs$trial_interaction <- c("trial_no_interaction", "trial_dropout")

for (nm in names(anova_pairs)) {
  p <- anova_pairs[[nm]]
  f1 <- run_lmer(refs$models[[p[1]]]$formula, refs$models[[p[1]]]$data, refs$models[[p[1]]]$REML,
                 refs$models[[p[1]]]$weights)$fit
  f2 <- run_lmer(refs$models[[p[2]]]$formula, refs$models[[p[2]]]$data, refs$models[[p[2]]]$REML,
                 refs$models[[p[2]]]$weights)$fit
  a <- suppressMessages(anova(f1, f2))
  tab <- as.data.frame(a)
  rownames(tab) <- c("m1", "m2")
  refs$anova[[nm]] <- list(m1 = p[1], m2 = p[2], table = tab)
  cat("anova", nm, "\n"); print(tab)
}

saveRDS(refs, "lme4_refs.rds", version = 2)
cat("\nwrote lme4_refs.rds with", length(refs$models), "models and", length(refs$anova), "anova tables\n")
cat("\nlme4 fits with convergence warnings:\n")
for (nm in names(refs$models)) if (!refs$models[[nm]]$fit$clean)
  cat(" ", nm, ":", paste(refs$models[[nm]]$fit$warnings, collapse = " | "), "\n")
