# Example data sets shipped with lemma, taken from lme4 (GPL, like lemma), so that
# examples and the README run without lme4 installed. Run from the package root.
for (nm in c("sleepstudy", "Dyestuff", "Dyestuff2", "Penicillin", "Pastes")) {
  e <- new.env()
  utils::data(list = nm, package = "lme4", envir = e)
  assign(nm, get(nm, e))
  save(list = nm, file = file.path("data", paste0(nm, ".rda")), compress = "xz")
}
