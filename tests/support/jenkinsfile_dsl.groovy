// Evaluates a Jenkinsfile with stand-ins for the pipeline steps and prints, as JSON, what
// the real ones would get: the sh scripts (Groovy's own string values), the environment
// block, withVault's arguments. Any step is a no-op that runs its closure; `params` has the
// pipeline's parameters' defaults. Run by tests/support/ci_examples.py (groovy_reading).
import groovy.json.JsonOutput

class Dsl {
    List shs = []
    Map env = [:]
    Map vault = null
    boolean inEnvironment = false
    Map params = [TARGET_JOB: '']

    def methodMissing(String name, Object argsObject) {
        Object[] args = argsObject as Object[]
        if (name == 'sh') { shs << args[0].toString(); return null }
        if (name == 'withVault') { vault = args[0] as Map }
        Closure body = args.find { it instanceof Closure } as Closure
        if (body != null) {
            boolean wasEnvironment = inEnvironment
            inEnvironment = (name == 'environment')
            body.delegate = this
            body.resolveStrategy = Closure.DELEGATE_FIRST
            body.call()
            inEnvironment = wasEnvironment
        }
        return args.length > 0 ? args[0] : null
    }

    def propertyMissing(String name, Object value) {
        if (inEnvironment) { env[name] = value.toString() }
    }

    def propertyMissing(String name) { return name }
}

def dsl = new Dsl()
Closure pipelineFile = new GroovyShell().evaluate("{ ->\n" + new File(args[0]).text + "\n}") as Closure
pipelineFile.delegate = dsl
pipelineFile.resolveStrategy = Closure.DELEGATE_FIRST
pipelineFile.call()
println JsonOutput.toJson([sh: dsl.shs, environment: dsl.env, withVault: dsl.vault])
