#' Example data sets
#'
#' Classic mixed-model data sets, as distributed with lme4:
#' \describe{
#'   \item{sleepstudy}{Reaction times (ms) of 18 subjects over 10 days of sleep
#'     deprivation: `Reaction`, `Days`, `Subject`.}
#'   \item{Dyestuff}{Yield of dyestuff from 6 batches, 5 preparations each: `Batch`, `Yield`.}
#'   \item{Dyestuff2}{Simulated data like Dyestuff with no batch variation: `Batch`, `Yield`.}
#'   \item{Penicillin}{Diameter of growth-inhibition zones, 24 plates crossed with 6
#'     samples: `diameter`, `plate`, `sample`.}
#'   \item{Pastes}{Strength of paste, casks nested in 10 batches: `strength`, `batch`,
#'     `cask`, `sample`.}
#' }
#' @source Belenky et al. (2003) for sleepstudy; Davies and Goldsmith (1972) for
#'   Dyestuff, Penicillin and Pastes; via the lme4 package.
#' @name lemma-data
#' @aliases sleepstudy Dyestuff Dyestuff2 Penicillin Pastes
#' @docType data
#' @keywords datasets
#' @examples
#' str(sleepstudy)
"sleepstudy"

#' @rdname lemma-data
"Dyestuff"

#' @rdname lemma-data
"Dyestuff2"

#' @rdname lemma-data
"Penicillin"

#' @rdname lemma-data
"Pastes"
