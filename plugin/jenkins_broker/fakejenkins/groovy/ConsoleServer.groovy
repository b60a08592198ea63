// The fake Jenkins' script console: one JVM per fake, started by
// jenkins_broker/fakejenkins/groovyconsole.py as
//   java -cp <groovy jars> groovy.ui.GroovyMain ConsoleServer.groovy
// Its first input line is {"op":"init","sources":{path: text}}: the Jenkins-shaped
// classes for the emulated version, compiled here once. Then it runs each script it is
// sent as Jenkins' script console does (hudson.util.RemotingDiagnostics): a new
// GroovyShell over those classes with the star imports jenkins, jenkins.model, hudson,
// hudson.model; "out" is the response; a final value that is not null adds a
// "Result: " line; a throwable is printed as Jenkins prints it (Functions.printThrowable:
// causes first, each "Caused: " below, frames shared with the outer one left out).
// The protocol is described in fakejenkins/Bridge.groovy. It exits when its input ends.

import groovy.json.JsonSlurper
import org.codehaus.groovy.ast.ClassCodeExpressionTransformer
import org.codehaus.groovy.ast.ClassHelper
import org.codehaus.groovy.ast.ClassNode
import org.codehaus.groovy.ast.expr.ArgumentListExpression
import org.codehaus.groovy.ast.expr.ClassExpression
import org.codehaus.groovy.ast.expr.Expression
import org.codehaus.groovy.ast.expr.MethodCallExpression
import org.codehaus.groovy.ast.expr.StaticMethodCallExpression
import org.codehaus.groovy.ast.expr.TupleExpression
import org.codehaus.groovy.classgen.GeneratorContext
import org.codehaus.groovy.control.CompilationUnit
import org.codehaus.groovy.control.CompilePhase
import org.codehaus.groovy.control.CompilerConfiguration
import org.codehaus.groovy.control.Phases
import org.codehaus.groovy.control.SourceUnit
import org.codehaus.groovy.control.customizers.CompilationCustomizer
import org.codehaus.groovy.control.customizers.ImportCustomizer

@groovy.transform.CompileStatic
class CompiledClasses extends ClassLoader {
    private final Map<String, byte[]> bytes

    CompiledClasses(ClassLoader parent, Map<String, byte[]> bytes) {
        super(parent)
        this.bytes = bytes
    }

    protected Class<?> findClass(String name) throws ClassNotFoundException {
        byte[] code = bytes.get(name)
        if (code == null) {
            throw new ClassNotFoundException(name)
        }
        return defineClass(name, code, 0, code.length)
    }
}

/** A script's LocalDate.now() reads the fake's clock (FakeJenkins.today), as the fake's JVM
 *  stands for Jenkins' own; every other clock of the JVM is the machine's. */
class FakeToday extends CompilationCustomizer {
    private final ClassNode bridge

    FakeToday(Class bridge) {
        super(CompilePhase.SEMANTIC_ANALYSIS)
        this.bridge = ClassHelper.make(bridge)
    }

    void call(SourceUnit source, GeneratorContext context, ClassNode classNode) {
        ClassNode target = bridge
        new ClassCodeExpressionTransformer() {
            protected SourceUnit getSourceUnit() {
                return source
            }

            Expression transform(Expression e) {
                if (isTodayCall(e)) {
                    Expression today = new StaticMethodCallExpression(target, 'today', ArgumentListExpression.EMPTY_ARGUMENTS)
                    today.setSourcePosition(e)
                    return today
                }
                return e == null ? null : e.transformExpression(this)
            }
        }.visitClass(classNode)
    }

    private static boolean isTodayCall(Expression e) {
        Expression arguments
        String owner
        if (e instanceof StaticMethodCallExpression && e.method == 'now') {
            owner = e.ownerType.name
            arguments = e.arguments
        } else if (e instanceof MethodCallExpression && e.methodAsString == 'now' &&
                e.objectExpression instanceof ClassExpression) {
            owner = e.objectExpression.type.name
            arguments = e.arguments
        } else {
            return false
        }
        return owner == 'java.time.LocalDate' && arguments instanceof TupleExpression &&
                ((TupleExpression) arguments).expressions.isEmpty()
    }
}

/** Writes the compiled classes and this console, compiled, to a directory for the next
 *  start (fakejenkins/groovyruntime.py names it); ".complete" last. Best effort. */
class Cache {
    static void write(String directory, Map<String, byte[]> classes, String serverSource) {
        try {
            File root = new File(directory)
            classes.each { String name, byte[] code ->
                File file = new File(root, name.replace('.', '/') + '.class')
                file.parentFile.mkdirs()
                file.bytes = code
            }
            CompilerConfiguration config = new CompilerConfiguration()
            config.targetDirectory = root
            CompilationUnit unit = new CompilationUnit(config)
            unit.addSource(new File(serverSource))
            unit.compile()
            new File(root, '.complete').text = 'complete'
        } catch (Throwable t) {
            System.err.println('fake Jenkins: compiled classes not cached: ' + t)
        }
    }
}

class Trace {
    static String of(Throwable t) {
        StringBuilder text = new StringBuilder()
        write(text, t, null, '', Collections.newSetFromMap(new IdentityHashMap<Throwable, Boolean>()))
        return text.toString()
    }

    private static void write(StringBuilder text, Throwable t, Throwable outer, String indent,
                              Set<Throwable> seen) {
        if (!seen.add(t)) {
            text.append('<cycle to ').append(String.valueOf(t)).append('>\n')
            return
        }
        Throwable cause = t.getCause()
        if (cause != null) {
            write(text, cause, t, indent, seen)
        }
        for (Throwable also : t.getSuppressed()) {
            text.append(indent).append('Also:   ')
            write(text, also, t, indent + '\t', seen)
        }
        String summary = String.valueOf(t)
        if (cause != null) {
            text.append(indent).append('Caused: ')
            String tail = ': ' + String.valueOf(cause)
            if (summary.endsWith(tail)) {
                summary = summary.substring(0, summary.length() - tail.length())
            }
        }
        text.append(summary).append('\n')
        StackTraceElement[] frames = t.getStackTrace()
        int shown = frames.length
        if (outer != null) {
            StackTraceElement[] outerFrames = outer.getStackTrace()
            int o = outerFrames.length
            while (shown > 0 && o > 0 && frames[shown - 1] == outerFrames[o - 1]) {
                shown--
                o--
            }
        }
        for (int i = 0; i < shown; i++) {
            text.append(indent).append('\tat ').append(String.valueOf(frames[i])).append('\n')
        }
    }
}

PrintStream protocol = new PrintStream(new FileOutputStream(FileDescriptor.out), false, 'UTF-8')
System.setOut(System.err)          // what a script writes to System.out goes to the log, not the answer
BufferedReader input = new BufferedReader(new InputStreamReader(System.in, 'UTF-8'))

Map init = (Map) new JsonSlurper().parseText(input.readLine())
ClassLoader jenkinsClasses
if (init.compiled) {            // started from the cache: the classes are on the class path
    jenkinsClasses = getClass().classLoader
} else {
    CompilationUnit unit = new CompilationUnit(new CompilerConfiguration(), null,
            new GroovyClassLoader(getClass().classLoader))
    ((Map<String, String>) init.sources).each { String path, String text -> unit.addSource(path, text) }
    unit.compile(Phases.CLASS_GENERATION)
    Map<String, byte[]> compiled = [:]
    unit.getClasses().each { compiled.put(it.name, it.bytes) }
    jenkinsClasses = new CompiledClasses(getClass().classLoader, compiled)
    if (init.cacheTo != null) {
        Cache.write((String) init.cacheTo, compiled, (String) init.serverSource)
    }
}
Class bridge = jenkinsClasses.loadClass('fakejenkins.Bridge')
bridge.open(protocol, (String) init.version)
bridge.send([op: 'ready', groovy: GroovySystem.version, java: System.getProperty('java.version'),
             cached: init.compiled == true])

Closure evaluate = { Map request ->
    StringWriter buffer = new StringWriter()
    PrintWriter out = new PrintWriter(buffer)
    try {
        bridge.enter([id: request.id, auth: request.auth, rootUrl: request.rootUrl, today: request.today])
        CompilerConfiguration config = new CompilerConfiguration()
        config.addCompilationCustomizers(
                new ImportCustomizer().addStarImports('jenkins', 'jenkins.model', 'hudson', 'hudson.model'),
                new FakeToday(bridge))
        GroovyShell shell = new GroovyShell(jenkinsClasses, new Binding(), config)
        shell.setVariable('out', out)
        try {
            if (request.fault != null) {
                throw new IllegalStateException((String) request.fault)
            }
            Object result = shell.evaluate((String) request.script)
            if (result != null) {
                out.println('Result: ' + String.valueOf(result))
            }
        } catch (Throwable t) {
            out.println(Trace.of(t).trim())
        }
    } finally {
        bridge.leave()
        out.flush()
        bridge.send([op: 'done', id: request.id, output: buffer.toString()])
    }
}

String line
while ((line = input.readLine()) != null) {
    Map message = (Map) new JsonSlurper().parseText(line)
    if (message.op == 'run') {
        Thread worker = new Thread({ evaluate(message) } as Runnable, 'script-' + message.id)
        worker.daemon = true
        worker.start()
    } else if (message.op == 'reply') {
        bridge.reply(message)
    }
}
System.exit(0)
